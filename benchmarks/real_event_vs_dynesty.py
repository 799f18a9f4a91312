"""A real event analysed with ``sampler="dingo"`` and with bilby + dynesty on the same data and likelihood.

The analysis is examples/real_event.py's (GWOSC files conditioned as bilby_pipe does, the default model's
priors and data settings, distance and phase marginalised). dynesty's result is kept in OUTDIR and reused
by later runs of this script with the same settings (``bilby_dingo.validation.compare.dynesty_reference``):
run it once with ``--dynesty-only`` in the background, compare as often as dingo changes. Prints and
writes (``OUTDIR/real_event_vs_dynesty.json``) the 1-D JSDs (dingo's weighted draws against dynesty's
posterior), dynesty's own half-split JSD, both log Bayes factors, likelihood calls and wall times.

    python benchmarks/real_event_vs_dynesty.py ../shared/gwosc --trigger-time 1167559936.6 \
        --outdir outdir_GW170104_vs_dynesty [--nlive 200 --naccept 30] [--npool 1] [--dynesty-only] [--seeded-check]

``--seeded-check``: also importance-sample from a proposal seeded by dynesty's posterior, which never saw the
network, to tell which side is right where the two disagree (``bilby_dingo.validation.compare.reference_seeded_check``).
"""

import argparse
import json
import os
import sys
import time

import bilby

# real_event.py is an example script, not part of the installed package; model_vs_dynesty.py a benchmark beside this.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
sys.path.insert(0, os.path.dirname(__file__))

from model_vs_dynesty import print_seeded  # noqa: E402
from real_event import analysis  # noqa: E402

import bilby_dingo  # noqa: E402
from bilby_dingo.utils import atomic_path  # noqa: E402
from bilby_dingo.validation.compare import compare_results, dynesty_reference, reference_seeded_check  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="GWOSC HDF5 strain files or folders holding them")
    parser.add_argument("--trigger-time", type=float, required=True)
    parser.add_argument("--outdir", default="outdir_real_event_vs_dynesty")
    parser.add_argument("--nlive", type=int, default=200)
    parser.add_argument("--naccept", type=int, default=30)
    parser.add_argument("--npool", type=int, default=1, help="likelihood processes, the same for both samplers")
    parser.add_argument("--target-n-eff", type=int, default=5000)
    parser.add_argument("--max-samples", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dynesty-only", action="store_true")
    parser.add_argument("--seeded-check", action="store_true",
                        help="also importance-sample from a proposal seeded by dynesty's posterior (no network)")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)
    model_path = bilby_dingo.default_model()
    likelihood, priors, _ = analysis(args.data, args.trigger_time, model_path, args.outdir)
    keys = [key for key, prior in priors.items() if isinstance(prior, bilby.core.prior.Prior) and not prior.is_fixed]
    settings = dict(nlive=args.nlive, naccept=args.naccept, trigger_time=args.trigger_time,
                    data=sorted(os.path.abspath(path) for path in args.data))
    dynesty, dynesty_seconds = dynesty_reference(likelihood, priors.copy(), os.path.join(args.outdir, "dynesty"),
                                                 settings, args.seed, npool=args.npool)
    print(f"dynesty: log BF {dynesty.log_bayes_factor:.3f} ± {dynesty.log_evidence_err:.3f}, "
          f"{dynesty.num_likelihood_evaluations} calls, {dynesty_seconds:.0f} s", flush=True)
    if args.dynesty_only:
        return 0
    start = time.perf_counter()
    dingo = bilby.run_sampler(likelihood, priors.copy(), sampler="dingo", target_n_eff=args.target_n_eff,
                              max_samples=args.max_samples, npool=args.npool, sampling_seed=args.seed, resume=False,
                              outdir=os.path.join(args.outdir, "dingo"), label="dingo", save="hdf5")
    dingo_seconds = time.perf_counter() - start
    row = dict(trigger_time=args.trigger_time, log_bayes_factor_dingo=float(dingo.log_bayes_factor),
               log_bayes_factor_dynesty=float(dynesty.log_bayes_factor),
               **compare_results(dingo, dynesty, keys, dingo_seconds, dynesty_seconds))
    print(f"dingo: efficiency {100 * row['sample_efficiency']:.2f}%, n_eff {row['n_eff']:.0f}; max 1-D JSD "
          f"{row['max_jsd_nats']:.4f} nats (dynesty half-split up to "
          f"{max(row['reference_half_split_jsd_nats'].values()):.4f}); log BF {row['log_bayes_factor_dingo']:.3f} vs "
          f"{row['log_bayes_factor_dynesty']:.3f} (Δ = {row['log_evidence_difference'] / row['combined_error']:+.1f}σ); "
          f"calls {row['likelihood_calls_dingo']} vs {row['likelihood_calls_other']}; "
          f"{dingo_seconds:.0f} s vs {dynesty_seconds:.0f} s", flush=True)
    if args.seeded_check:
        _, row["reference_seeded"] = reference_seeded_check(
            likelihood, priors.copy(), dynesty, dingo, keys, os.path.join(args.outdir, "seeded"),
            target_n_eff=args.target_n_eff, max_samples=args.max_samples, npool=args.npool,
            sampling_seed=args.seed + 1)
        print_seeded(row["reference_seeded"])
    with atomic_path(os.path.join(args.outdir, "real_event_vs_dynesty.json"), suffix=".json") as temporary, \
            open(temporary, "w") as stream:
        json.dump(dict(vars(args), **row), stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
