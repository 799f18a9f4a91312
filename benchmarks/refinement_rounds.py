"""Refinement rounds on the quickstart injection under different fit settings, with one GNPE set-up.

Sets up the default model's GNPE proposal once for the quickstart's injection (examples/quickstart.py:
H1+L1, O4 noise, chirp mass 28, network SNR ≈ 17, distance and phase marginalised), then runs the
refinement rounds (no final draws) for each variant ``NAME:INFLATION:ESS_FRACTION:DOF:ALPHA`` and prints
the sample efficiency of every round, the tempering exponents, the number of mixture components and the
round whose proposal would be frozen. Used to choose the defaults (docs/validation.md, "Refinement").
Optional further fields SKY:TRUNCATE:WARM:WIDE (default 1:0:1:0.15): fit the sky position and time in the
detector-baseline frame (bilby_dingo.proposals.sky_frame) or in (ra, dec, geocent_time); fit to weights
truncated at √N times their mean (refinement.fit_weights) or to the weights themselves; start a flow's
training from the previous round's flow (refinement.WARM_START) or afresh; WIDE: the share of a flow's
base draws from the wide normal (fitted_flow.WIDE_SHARE).

    python benchmarks/refinement_rounds.py --variants default:1.3:0.1:10:0.1 no-inflation:1.0:0.1:10:0.1:0 \
        [--max-rounds 12] [--seed 1]
"""

import argparse
import dataclasses
import os
import sys
import time

import bilby
import numpy as np

# quickstart.py is an example script, not part of the installed package.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

from quickstart import analysis  # noqa: E402

import bilby_dingo  # noqa: E402
import bilby_dingo.importance_sampling.refinement as refinement  # noqa: E402
import bilby_dingo.proposals.fitted as fitted  # noqa: E402
import bilby_dingo.proposals.fitted_flow as fitted_flow  # noqa: E402
from bilby_dingo.importance_sampling.draws import DrawStore  # noqa: E402
from bilby_dingo.importance_sampling.driver import ImportanceSamplingRun  # noqa: E402
from bilby_dingo.importance_sampling.statistics import pareto_k_hat, summarize  # noqa: E402
from bilby_dingo.models import training_priors  # noqa: E402
from bilby_dingo.network.model_file import load_model  # noqa: E402
from bilby_dingo.proposals.factory import network_proposal  # noqa: E402
from bilby_dingo.proposals.sky_frame import sky_frame_for  # noqa: E402
from bilby_dingo.settings import DingoSettings  # noqa: E402
from bilby_dingo.utils import log_likelihoods  # noqa: E402
from bilby_dingo.validation.pp import simulate_event_in_snr_band  # noqa: E402

KEYS = ["chirp_mass", "mass_ratio", "chi_1", "chi_2", "theta_jn", "psi", "ra", "dec", "geocent_time"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["default:1.3:0.1:10:0.1"])
    parser.add_argument("--max-rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--refine-draws", type=int, default=5000, help="draws per round")
    parser.add_argument("--target-n-eff", type=int, default=2000, help="the run's target (refinement's cost rule)")
    parser.add_argument("--final-draws", type=int, default=0,
                        help="then draw this many from the frozen proposal and report their efficiency")
    parser.add_argument("--density", default="auto", choices=["auto", "student-t", "flow"], help="fitted family")
    parser.add_argument("--outdir", default="outdir_refinement_rounds")
    parser.add_argument("--survey-injection", type=int, default=None,
                        help="instead of the quickstart's, injection N of benchmarks/refinement_efficiency.py "
                             "(its default seed and SNR band 12-50)")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)
    lookup_table = bilby_dingo.models.default_distance_lookup_table(
        os.path.join(args.outdir, "distance_marginalization_lookup.npz"))
    if args.survey_injection is None:
        likelihood, priors = analysis(lookup_table)
    else:
        metadata = load_model(bilby_dingo.default_model())[1]
        likelihood, priors, _, psd_entry, snr = simulate_event_in_snr_band(
            metadata, training_priors(metadata), args.survey_injection, 0, (12.0, 50.0), ["distance", "phase"],
            lookup_table)
        print(f"survey injection {args.survey_injection}: {psd_entry}, network SNR {snr:.1f}", flush=True)
    # Marginalised parameters: bilby's likelihood replaced their priors by numbers (or delta functions).
    fixed = {key: float(getattr(value, "peak", value)) for key, value in priors.items()
             if key not in KEYS and (hasattr(value, "peak") or isinstance(value, (int, float)))}
    start = time.perf_counter()
    proposal = network_proposal(bilby_dingo.default_model(), likelihood, priors, KEYS, seed=args.seed)
    print(f"GNPE set-up: {time.perf_counter() - start:.0f} s", flush=True)

    def evaluate(theta):
        return log_likelihoods(likelihood, KEYS, theta, fixed)

    for variant in args.variants:
        name, inflation, fraction, dof, alpha, *flags = variant.split(":")
        sky, truncate, warm, wide = (flags + ["1", "0", "1", "0.15"][len(flags):])[:4]
        refinement.TRUNCATE_FIT_WEIGHTS, refinement.WARM_START = truncate == "1", warm == "1"
        sky_frame = sky_frame_for(likelihood, priors, KEYS) if sky == "1" else None
        fitted.COVARIANCE_INFLATION, fitted.DEFAULT_DOF = float(inflation), float(dof)
        fitted_flow.BASE_SCALE = float(inflation) ** 0.5  # the same variance inflation for a flow's base
        fitted_flow.WIDE_SHARE = float(wide)
        refinement.TEMPERED_ESS_FRACTION = float(fraction)
        settings = dataclasses.replace(DingoSettings.from_kwargs(dict(target_n_eff=args.target_n_eff)),
                                       refine_alpha=float(alpha),
                                       refine_max_rounds=args.max_rounds, refine_draws=args.refine_draws,
                                       refine_density=args.density)
        start = time.perf_counter()
        refiner = refinement.ProposalRefinement(proposal, priors, KEYS, evaluate, settings, args.seed,
                                                np.random.default_rng(5), sky_frame=sky_frame)
        outcome = refiner.run(resume=False)
        print(f"{name} ({args.density}, inflation {inflation}, ESS fraction {fraction}, dof {dof}, alpha {alpha}, sky frame "
              f"{sky_frame is not None}, truncated fit weights {truncate == '1'}, warm start {warm == '1'}, wide share {wide}): efficiency per "
              f"round {[round(100 * r.sample_efficiency, 2) for r in outcome.rounds]} %, beta "
              f"{[None if r.beta is None else round(r.beta, 2) for r in outcome.rounds]}, components "
              f"{[r.num_components for r in outcome.rounds]}, draws {[r.num_draws for r in outcome.rounds]}, fit s {[round(r.fit_time) for r in outcome.rounds]}, "
              f"frozen rounds {outcome.frozen_rounds}, pooled estimates "
              f"{[round(100 * value, 2) for value in outcome.pooled_efficiencies or []]} %, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        if args.final_draws:
            # Fresh draws of the frozen proposal: the honest efficiency (a round's own is selected as the best).
            # Also those of the best single round by its own efficiency and by the pooled estimate.
            best_own = max(range(len(outcome.rounds)), key=lambda i: (outcome.rounds[i].sample_efficiency, i))
            best_pooled = max(range(len(outcome.rounds)), key=lambda i: (outcome.pooled_efficiencies[i], i))
            choices = {}
            for members, label in ((tuple(outcome.frozen_rounds), "frozen"), ((best_own,), "best own efficiency"),
                                   ((best_pooled,), "best pooled estimate")):
                choices[members] = f"{choices[members]}, {label}" if members in choices else label
            for members, label in choices.items():
                members = list(members)
                candidate = proposal if members == [0] else refiner.mixture(
                    [outcome.densities[number - 1] for number in members])
                final_settings = dataclasses.replace(settings, num_samples=args.final_draws, target_n_eff=None,
                                                     max_samples=None, batch_size=args.final_draws)
                store = DrawStore(KEYS, "benchmark", args.seed, auxiliary_keys=list(candidate.auxiliary_keys))
                store = ImportanceSamplingRun(candidate, priors, KEYS, evaluate, final_settings,
                                              np.random.default_rng([args.seed, 2]), store).run()
                log_w = store.evaluated_log_weights()
                summary = summarize(log_w)
                print(f"    {args.final_draws} fresh draws of the proposal of round(s) {members} ({label}): efficiency "
                      f"{100 * summary.sample_efficiency:.2f}%, n_eff {summary.n_eff:.0f}, log Z "
                      f"{summary.log_evidence:.3f} ± {summary.log_evidence_std:.3f}, Pareto k {pareto_k_hat(log_w):.2f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
