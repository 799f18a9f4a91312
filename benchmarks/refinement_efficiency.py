"""Adaptive refinement on and off, on the same injections, likelihood and machine.

For each injection (drawn from the model's training prior until its network optimal SNR lies in
[--min-snr, --max-snr]; Gaussian noise from a PSD of its family, cycling through the family; distance
and phase marginalised by default, as the default model needs), runs ``sampler="dingo"`` with
``refine=True`` and ``refine=False`` to the same ``--target-n-eff`` within ``--max-samples`` draws and
records the final sample efficiency, n_eff, the likelihood calls (refinement rounds, proposal set-up,
final draws), wall time, Pareto k̂ and the per-round efficiencies. Writes
``OUTDIR/refinement_efficiency.json`` after every injection, and prints a line per run.

    python benchmarks/refinement_efficiency.py [MODEL] --num-injections 20 --min-snr 12 --max-snr 50 \
        --outdir outdir_refinement [--npool 2] [--modes on off] [--off-max-samples 30000]
"""

import argparse
import json
import os
import sys
import time

import bilby
import numpy as np

from bilby_dingo.models import DEFAULT_MODEL_FILE, default_distance_lookup_table, training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.utils import atomic_path
from bilby_dingo.validation.pp import MARGINALISABLE, simulate_event_in_snr_band


def run_one(likelihood, analysis, injection, model, refine, index, args):
    start = time.perf_counter()
    result = bilby.run_sampler(
        likelihood, analysis, sampler="dingo", model=model, refine=refine, target_n_eff=args.target_n_eff,
        max_samples=args.max_samples if refine else (args.off_max_samples or args.max_samples), npool=args.npool, sampling_seed=args.seed + index, resume=False, save=False,
        outdir=os.path.join(args.outdir, f"injection_{index}"), label=f"refine_{'on' if refine else 'off'}",
        injection_parameters=injection, diagnostic_plots=False,
        **({} if args.gnpe_iterations is None else dict(gnpe_iterations=args.gnpe_iterations)),
        **({} if args.refine_tempered_share is None else dict(refine_tempered_share=args.refine_tempered_share)))
    seconds = time.perf_counter() - start
    meta = result.meta_data["dingo"]
    rounds = meta["refinement"].get("rounds", {})
    return dict(
        sample_efficiency=meta["sample_efficiency"], n_eff=meta["n_eff"], num_draws=meta["num_proposals"],
        likelihood_calls=int(result.num_likelihood_evaluations),
        refinement_calls=int(meta["refinement_likelihood_evaluations"]),
        setup_calls=int(meta["proposal_setup_likelihood_evaluations"]), wall_time_s=seconds,
        pareto_k=meta["pareto_k"], log_evidence=result.log_evidence, log_evidence_err=result.log_evidence_err,
        posterior_rows=meta["num_posterior_samples"],
        round_efficiencies=list(rounds.get("sample_efficiency", [])),
        pooled_efficiencies=list(rounds.get("pooled_efficiency", [])),
        frozen_rounds=list(meta["refinement"].get("frozen_rounds", [])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL_FILE)
    parser.add_argument("--num-injections", type=int, default=20)
    parser.add_argument("--first-injection", type=int, default=0)
    parser.add_argument("--min-snr", type=float, default=12.0)
    parser.add_argument("--max-snr", type=float, default=50.0)
    parser.add_argument("--target-n-eff", type=int, default=5000)
    parser.add_argument("--max-samples", type=int, default=200_000)
    parser.add_argument("--off-max-samples", type=int, default=None,
                        help="draw budget of the unrefined runs (default: --max-samples); their efficiency needs fewer")
    parser.add_argument("--npool", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--marginalise", nargs="*", default=["distance", "phase"], choices=sorted(MARGINALISABLE))
    parser.add_argument("--refine-tempered-share", type=float, default=None,
                        help="the sampler's refine_tempered_share (default: the sampler's)")
    parser.add_argument("--gnpe-iterations", type=int, default=None,
                        help="GNPE Gibbs iterations (default: the sampler's); see benchmarks/gnpe_gibbs_iterations.py")
    parser.add_argument("--outdir", default="outdir_refinement")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)
    metadata = load_model(args.model)[1]
    priors = training_priors(metadata)
    lookup_table = default_distance_lookup_table(os.path.join(args.outdir, "distance_marginalization_lookup.npz"))
    rows = []
    for index in range(args.first_injection, args.first_injection + args.num_injections):
        likelihood, analysis, injection, psd_entry, snr = simulate_event_in_snr_band(
            metadata, priors, index, args.seed, (args.min_snr, args.max_snr), args.marginalise, lookup_table)
        row = dict(injection=index, psd=psd_entry, network_optimal_snr=snr)
        for mode in args.modes:
            row[f"refine_{mode}"] = run_one(likelihood, analysis, injection, args.model, mode == "on", index, args)
            record = row[f"refine_{mode}"]
            print(f"injection {index} ({psd_entry}, SNR {snr:.1f}), refine {mode}: efficiency "
                  f"{100 * record['sample_efficiency']:.2f}%, n_eff {record['n_eff']:.0f}, calls "
                  f"{record['likelihood_calls']} ({record['refinement_calls']} refinement), "
                  f"{record['wall_time_s']:.0f} s, rounds {[round(100 * e, 2) for e in record['round_efficiencies']]}, "
                  f"pooled estimates {[round(100 * e, 2) for e in record['pooled_efficiencies']]}, frozen "
                  f"{record['frozen_rounds']}",
                  flush=True)
        rows.append(row)
        write_summary(args, rows)
    for mode in args.modes:
        records = [row[f"refine_{mode}"] for row in rows]
        print(f"refine {mode}: median efficiency {100 * np.median([r['sample_efficiency'] for r in records]):.2f}%, "
              f"median n_eff {np.median([r['n_eff'] for r in records]):.0f}, median calls "
              f"{np.median([r['likelihood_calls'] for r in records]):.0f}, median wall "
              f"{np.median([r['wall_time_s'] for r in records]):.0f} s over {len(records)} injections")
    return 0


def write_summary(args, rows):
    with atomic_path(os.path.join(args.outdir, "refinement_efficiency.json"), suffix=".json") as temporary, \
            open(temporary, "w") as stream:
        json.dump(dict(model=args.model, seed=args.seed, target_n_eff=args.target_n_eff, max_samples=args.max_samples,
                       off_max_samples=args.off_max_samples, npool=args.npool, gnpe_iterations=args.gnpe_iterations,
                       refine_tempered_share=args.refine_tempered_share, marginalised=args.marginalise, min_snr=args.min_snr, max_snr=args.max_snr,
                       injections=rows), stream, indent=2)


if __name__ == "__main__":
    sys.exit(main())
