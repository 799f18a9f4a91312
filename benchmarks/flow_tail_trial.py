"""The refinement flow's drawing base, tried on the main example over several sampling seeds.

The refinement's spline flow is trained with a N(0, 1) base and draws (and is evaluated) with a wider
base mixture Σ_j share_j N(0, scale_j² I) (``bilby_dingo.proposals.fitted_flow``: 0.85 N(0, 1.25²) +
0.15 N(0, 2.5²) by default). The wide share is the fit's own cover for posterior mass it under-fits; it
follows the flow's map, so it reaches along curved correlations (the main example's time–mass–spin ridge,
docs/validation.md "The main example on a fresh install") where a fixed shift could not. Whether a wider or
larger tail pays is what this measures: each variant runs the whole sampler (GNPE set-up, refinement,
validation rounds, final draws; the main example's settings: ``target_n_eff=2000``, ``max_samples=200000``,
npool 2) on the main example's data for every seed, and reports per run the final efficiency, n_eff, the
likelihood calls, the validation rounds, ln BF against the main example's reference (150.5654 ± 0.0024: three
runs at ``target_n_eff=40000``, seeds 101–103, made with this script's ``--target-n-eff 40000 --max-samples
1000000``; docs/validation.md) and the final weight more than 4 ms from the weighted mean time.

    python benchmarks/flow_tail_trial.py --seeds 1 2 3 4 5 6 \\
        --variants default:1.25,2.5:0.85,0.15 tail4:1.25,2.5,4:0.8,0.15,0.05 --out trial.json
    python benchmarks/flow_tail_trial.py --seeds 101 102 103 --target-n-eff 40000 --max-samples 1000000 \\
        --out reference.json

A variant is NAME:SCALES:SHARES (comma-separated, shares summing to 1). Every weight stays exact in every
variant; only the efficiency and the cost change.
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
import time

import bilby
import numpy as np

# quickstart.py is an example script, not part of the installed package.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

from quickstart import INJECTION, analysis  # noqa: E402

from bilby_dingo.models import default_distance_lookup_table  # noqa: E402
from bilby_dingo.proposals import fitted_flow  # noqa: E402

REFERENCE_LOG_BF, REFERENCE_ERROR = 150.5654, 0.0024  # three runs at target_n_eff=40000 (docs/validation.md)


def parse_variant(text):
    try:
        name, scales, shares = text.split(":")
        scales = [float(value) for value in scales.split(",")]
        shares = [float(value) for value in shares.split(",")]
    except ValueError:
        raise SystemExit(f"Variant {text!r}: expected NAME:SCALES:SHARES, e.g. tail4:1.25,2.5,4:0.8,0.15,0.05")
    if len(scales) != len(shares) or abs(sum(shares) - 1) > 1e-9 or min(scales) <= 0 or min(shares) <= 0:
        raise SystemExit(f"Variant {text!r}: as many positive scales as shares, and the shares must sum to 1")
    return name, scales, shares


# fitted_flow's constants name a two-part base; a variant may have more parts, so flows get it at construction.
SPLINE_FLOW_INIT = fitted_flow.SplineFlowDensity.__init__


def use_drawing_base(scales, shares):
    """Make every flow built from now on draw from Σ shares_j N(0, scales_j²) (stored flows keep theirs)."""
    def init(self, flow, architecture, base_scales=None, base_shares=None, training_steps=None):
        SPLINE_FLOW_INIT(self, flow, architecture, scales if base_scales is None else base_scales,
                         shares if base_shares is None else base_shares, training_steps)

    fitted_flow.SplineFlowDensity.__init__ = init


def run_once(likelihood, priors, seed, npool, outdir, target_n_eff=2000, max_samples=200_000, refine_draws=5000,
             tempered_share=None):
    start = time.perf_counter()
    extra = {} if tempered_share is None else dict(refine_tempered_share=tempered_share)
    result = bilby.run_sampler(likelihood, priors, sampler="dingo", target_n_eff=target_n_eff, max_samples=max_samples,
                               npool=npool, outdir=outdir, label="trial", injection_parameters=INJECTION,
                               sampling_seed=seed, resume=False, save=False, diagnostic_plots=False,
                               refine_draws=refine_draws, **extra)
    wall = time.perf_counter() - start
    dingo = result.meta_data["dingo"]
    samples = result.nested_samples
    weights = samples["weights"].to_numpy()
    times = samples["geocent_time"].to_numpy()
    offset = times - np.average(times, weights=weights)
    log_bf = result.log_evidence - result.log_noise_evidence
    return dict(seed=seed, sample_efficiency=float(dingo["sample_efficiency"]), n_eff=float(dingo["n_eff"]),
                likelihood_calls=int(result.num_likelihood_evaluations),
                refinement_calls=int(dingo["refinement_likelihood_evaluations"]),
                validation_rounds=int(dingo["refinement"]["validation_rounds"]),
                tempered_share=float(dingo["refinement"].get("tempered_share", 0.0)),
                frozen_pooled_efficiency=float(dingo["refinement"].get("frozen_pooled_efficiency", np.nan)),
                rounds=len(dingo["refinement"]["rounds"]["round"]),
                pareto_k=float(dingo["pareto_k"]), log_bayes_factor=float(log_bf),
                log_evidence_err=float(result.log_evidence_err),
                z_against_reference=float((log_bf - REFERENCE_LOG_BF)
                                          / np.hypot(result.log_evidence_err, REFERENCE_ERROR)),
                weight_beyond_4ms=float(weights[np.abs(offset) > 0.004].sum()), wall_time_s=wall)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["default:1.25,2.5:0.85,0.15"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--npool", type=int, default=2)
    parser.add_argument("--target-n-eff", type=int, default=2000, help="the main example's 2000 by default")
    parser.add_argument("--max-samples", type=int, default=200_000)
    parser.add_argument("--refine-draws", type=int, default=5000, help="draws per refinement round")
    parser.add_argument("--tempered-shares", nargs="+", type=float, default=[None],
                        help="refine_tempered_share values to run each variant with (default: the sampler's)")
    parser.add_argument("--out", default="flow_tail_trial.json")
    args = parser.parse_args(argv)
    variants = [parse_variant(text) for text in args.variants]
    records = []
    with tempfile.TemporaryDirectory() as outdir:
        likelihood, priors = analysis(default_distance_lookup_table(
            os.path.join(outdir, "distance_marginalization_lookup.npz")))
        for name, scales, shares in variants:
            use_drawing_base(scales, shares)
            for tempered_share in args.tempered_shares:
                for seed in args.seeds:
                    measured = run_once(likelihood, priors, seed, args.npool, outdir, args.target_n_eff,
                                        args.max_samples, args.refine_draws, tempered_share)
                    record = dict(variant=name, scales=scales, shares=shares, **measured)
                    records.append(record)
                    print(json.dumps(record), flush=True)
                    with open(args.out, "w") as file:
                        json.dump(dict(command=" ".join(sys.argv), records=records), file, indent=1)
    for (name, _, _), share in itertools.product(variants, sorted({r["tempered_share"] for r in records})):
        rows = [record for record in records if record["variant"] == name and record["tempered_share"] == share]
        z = [r["z_against_reference"] for r in rows]
        print(f"{name}, tempered share {share}: z mean {np.mean(z):.2f} (sd {np.std(z, ddof=1) if len(z) > 1 else 0:.2f}), "
              f"median efficiency {100 * np.median([r['sample_efficiency'] for r in rows]):.1f}%, median "
              f"calls {np.median([r['likelihood_calls'] for r in rows]):.0f}, validation rounds "
              f"{sum(r['validation_rounds'] for r in rows)}, z {[round(r['z_against_reference'], 2) for r in rows]}, "
              f"median wall {np.median([r['wall_time_s'] for r in rows]):.0f} s")


if __name__ == "__main__":
    main()
