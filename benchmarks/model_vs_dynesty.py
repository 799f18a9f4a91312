"""A trained model against bilby + dynesty on the same injections, likelihood and machine.

For each injection (drawn from the model's training prior until its network optimal SNR reaches
``--min-snr``, Gaussian noise from a PSD of its family; parameters the model did not learn fixed at
their injected values or, with ``--marginalise``, left to bilby's marginalisation, as in bilby_dingo_pp), runs
dingo (``--target-n-eff``) and dynesty (``--nlive``) through ``bilby.run_sampler`` and reports the 1-D
JSDs, the log-evidence difference with its combined error, likelihood calls and wall time of each
and the speed-up. Writes ``OUTDIR/model_vs_dynesty.json``. With ``--seeded-check``, where the two disagree, a
third importance-sampling run seeded by dynesty's posterior says which side is right
(``bilby_dingo.validation.compare.reference_seeded_check``).

    python benchmarks/model_vs_dynesty.py MODEL --num-injections 3 --outdir outdir_vs_dynesty \
        [--marginalise distance phase] [--min-snr 10]
"""

import argparse
import json
import os
import sys
import time

import bilby
import numpy as np

from bilby_dingo.models import default_distance_lookup_table, training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.utils import atomic_path
from bilby_dingo.validation.compare import compare_results, dynesty_reference, reference_seeded_check
from bilby_dingo.validation.pp import MARGINALISABLE, network_optimal_snr, simulate_event

MAX_DRAWS = 1000  # injections tried per --min-snr before giving up


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num-injections", type=int, default=3)
    parser.add_argument("--first-injection", type=int, default=0,
                        help="index of the first injection (each index draws its own; split a run over processes)")
    parser.add_argument("--target-n-eff", type=int, default=5000)
    parser.add_argument("--max-samples", type=int, default=1_000_000)
    parser.add_argument("--nlive", type=int, default=1000)
    parser.add_argument("--naccept", type=int, default=60, help="dynesty acceptance-walk: accepted steps per walk")
    parser.add_argument("--npool", type=int, default=1, help="likelihood processes, the same for both samplers")
    parser.add_argument("--outdir", default="outdir_vs_dynesty")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--marginalise", nargs="*", default=[], choices=sorted(MARGINALISABLE),
                        help="leave these to bilby's likelihood marginalisation (both samplers)")
    parser.add_argument("--min-snr", type=float, default=0.0,
                        help="redraw each injection until its network optimal SNR reaches this")
    parser.add_argument("--dynesty-only", action="store_true",
                        help="run (or resume) only dynesty; a later run without it reuses dynesty's result files")
    parser.add_argument("--dingo-only", action="store_true",
                        help="run only dingo (no dynesty, no comparison): its efficiency, n_eff, calls and log Z on the "
                             "same injections, e.g. to re-measure dingo against an earlier dynesty run's figures; it writes "
                             "OUTDIR/model_vs_dynesty.json too: give it an outdir of its own")
    parser.add_argument("--seeded-check", action="store_true",
                        help="also importance-sample from a proposal seeded by dynesty's posterior (no network)")
    args = parser.parse_args(argv)
    if args.dingo_only and args.dynesty_only:
        parser.error("--dingo-only and --dynesty-only exclude each other: give one of them, or neither for the "
                     "comparison.")
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)

    metadata = load_model(args.model)[1]
    priors = training_priors(metadata)
    entries = metadata["psd_family"]["entries"]
    lookup_table = default_distance_lookup_table(os.path.join(args.outdir, "distance_marginalization_lookup.npz"))
    rows = []
    for index in range(args.first_injection, args.first_injection + args.num_injections):
        rng = np.random.default_rng([args.seed, index])
        psd_entry = entries[index % len(entries)]
        trigger_time = metadata["reference_time"] + 86400.0 * index
        for _ in range(MAX_DRAWS):
            likelihood, analysis, injection = simulate_event(metadata, priors, rng, trigger_time, psd_entry,
                                                             args.marginalise, lookup_table=lookup_table)
            snr = network_optimal_snr(likelihood)
            if snr >= args.min_snr:
                break
        else:
            raise SystemExit(f"No injection of {MAX_DRAWS} drawn from the training prior reached network SNR "
                             f"{args.min_snr:g} with {psd_entry}: lower --min-snr.")
        keys = [key for key in metadata["inference_parameters"]
                if isinstance(analysis[key], bilby.core.prior.Prior) and not analysis[key].is_fixed]
        common = dict(outdir=os.path.join(args.outdir, f"injection_{index}"), save="hdf5", npool=args.npool,
                      injection_parameters=injection)
        if args.dingo_only:
            rows.append(dict(injection=index, psd=psd_entry, network_optimal_snr=snr,
                             **dingo_alone(args, likelihood, analysis, common, args.seed + index)))
            print(json.dumps(rows[-1]), flush=True)
            write_summary(args, rows)
            continue
        dynesty, dynesty_seconds = dynesty_reference(likelihood, analysis, common["outdir"],
                                                     dynesty_settings(args), args.seed + index, injection,
                                                     args.npool)
        if args.dynesty_only:
            continue
        start = time.perf_counter()
        dingo = bilby.run_sampler(likelihood, analysis, sampler="dingo", model=args.model, label="dingo",
                                  target_n_eff=args.target_n_eff, max_samples=args.max_samples, resume=False,
                                  sampling_seed=args.seed + index, **common)
        dingo_seconds = time.perf_counter() - start
        row = dict(injection=index, psd=psd_entry, network_optimal_snr=snr,
                   **compare_results(dingo, dynesty, keys, dingo_seconds, dynesty_seconds))
        rows.append(row)
        print(f"injection {index} ({psd_entry}, SNR {snr:.1f}): max JSD {row['max_jsd_nats']:.4f} nats; log Z dingo "
              f"{row['log_evidence_dingo']:.3f} ± {row['log_evidence_err_dingo']:.3f}, dynesty "
              f"{row['log_evidence_other']:.3f} ± {row['log_evidence_err_other']:.3f} "
              f"(Δ = {row['log_evidence_difference'] / row['combined_error']:+.1f}σ); efficiency "
              f"{100 * row['sample_efficiency']:.2f}%; calls {row['likelihood_calls_dingo']} vs "
              f"{row['likelihood_calls_other']}; {row['wall_time_dingo_s']:.0f} s vs {row['wall_time_other_s']:.0f} s "
              f"(×{row['speed_up']:.1f})", flush=True)
        if args.seeded_check:
            _, row["reference_seeded"] = reference_seeded_check(
                likelihood, analysis.copy(), dynesty, dingo, keys, common["outdir"], target_n_eff=args.target_n_eff,
                max_samples=args.max_samples, npool=args.npool, sampling_seed=args.seed + index + 1,
                injection_parameters=injection)
            print_seeded(row["reference_seeded"])
        write_summary(args, rows)  # after every injection: a stopped run keeps the finished ones
    return 0


def dingo_alone(args, likelihood, analysis, common, seed):
    """dingo's own figures on one injection (``--dingo-only``): the settings of the comparison, no dynesty."""
    start = time.perf_counter()
    result = bilby.run_sampler(likelihood, analysis, sampler="dingo", model=args.model, label="dingo",
                               target_n_eff=args.target_n_eff, max_samples=args.max_samples, resume=False,
                               sampling_seed=seed, **common)
    dingo = result.meta_data["dingo"]
    return dict(sample_efficiency=dingo["sample_efficiency"], n_eff=dingo["n_eff"],
                likelihood_calls_dingo=int(result.num_likelihood_evaluations),
                refinement_likelihood_calls=int(dingo["refinement_likelihood_evaluations"]),
                log_evidence_dingo=result.log_evidence, log_evidence_err_dingo=result.log_evidence_err,
                frozen_rounds=dingo["refinement"].get("frozen_rounds"),
                refinement_rounds=len(dingo["refinement"].get("rounds", {}).get("round", [])) - 1,
                validation_rounds=dingo["refinement"].get("validation_rounds"),
                wall_time_dingo_s=time.perf_counter() - start)


def print_seeded(seeded):
    worst = max(seeded["jsd_vs_reference_nats"], key=seeded["jsd_vs_reference_nats"].get)
    print(f"  seeded by dynesty's posterior: efficiency {100 * seeded['sample_efficiency']:.2f}%, n_eff "
          f"{seeded['n_eff']:.0f}, log Z {seeded['log_evidence']:.3f} ± {seeded['log_evidence_err']:.3f}; JSD in "
          f"{worst}: {seeded['jsd_vs_reference_nats'][worst]:.4f} against dynesty, "
          f"{seeded['jsd_vs_dingo_nats'][worst]:.4f} against dingo; max against dingo "
          f"{max(seeded['jsd_vs_dingo_nats'].values()):.4f}", flush=True)


def dynesty_settings(args):
    """What identifies a dynesty run beside its injection (stored with its result, compared on reuse)."""
    return dict(nlive=args.nlive, naccept=args.naccept, seed=args.seed, npool=args.npool,
                marginalised=sorted(args.marginalise))


def write_summary(args, rows):
    with atomic_path(os.path.join(args.outdir, "model_vs_dynesty.json"), suffix=".json") as temporary, \
            open(temporary, "w") as stream:
        json.dump(dict(model=args.model, seed=args.seed, nlive=args.nlive, naccept=args.naccept,
                       target_n_eff=args.target_n_eff, max_samples=args.max_samples, npool=args.npool, marginalised=args.marginalise,
                       min_snr=args.min_snr, injections=rows), stream, indent=2)


if __name__ == "__main__":
    sys.exit(main())
