"""How many GNPE Gibbs iterations: the chains' proxies against the exact proxy marginal, per iteration count.

GNPE's proxy density q(t̂) is fitted to the final proxies of Gibbs chains (``gnpe_iterations`` steps from a
likelihood-guided start). The chains converge to the *network's* joint of (θ, t̂), which is as broad as
the network; the exact target's proxy marginal is the posterior of t_I(θ) convolved with the kernel. This
script measures, per iteration count, the 1-Wasserstein distance (ms, per detector) and the standard
deviation of the chains' proxies against that exact marginal, read from the final weighted draws of a
refinement survey (``benchmarks/refinement_efficiency.py --modes on``: its checkpoint files hold every
final draw with its proxies and weight factors). The events are simulated again from the survey's seeds,
and each one's strain is checked against the checkpoint's fingerprint.

    python benchmarks/refinement_efficiency.py --num-injections 5 --modes on --outdir SURVEY
    python benchmarks/gnpe_gibbs_iterations.py SURVEY [SURVEY2 ...] --iterations 0 5 10 15 30 \
        --outdir outdir_gibbs
"""

import argparse
import glob
import json
import os
import sys
import time

import bilby
import numpy as np
from scipy.stats import wasserstein_distance

from bilby_dingo.importance_sampling.draws import DrawStore
from bilby_dingo.importance_sampling.fingerprint import likelihood_fingerprint
from bilby_dingo.models import DEFAULT_MODEL_FILE, default_distance_lookup_table, training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.proposals.gnpe import GNPEProposal
from bilby_dingo.utils import atomic_path
from bilby_dingo.validation.pp import simulate_event_in_snr_band


def exact_proxies(checkpoint_path, proxy_keys):
    """The final draws' proxies (n, n_det) and normalised weights, from a survey checkpoint file."""
    draws = DrawStore.load(checkpoint_path)
    log_weights = draws.evaluated_log_weights()
    columns = [draws.auxiliary_keys.index(key) for key in proxy_keys]
    proxies = draws.auxiliary[: draws.num_evaluated, columns]
    finite = np.isfinite(log_weights)
    weights = np.exp(log_weights[finite] - log_weights[finite].max())
    return proxies[finite], weights / weights.sum(), draws.fingerprint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("surveys", nargs="+", help="outdirs of benchmarks/refinement_efficiency.py runs")
    parser.add_argument("--model", default=DEFAULT_MODEL_FILE)
    parser.add_argument("--iterations", type=int, nargs="+", default=[0, 5, 10, 15, 20, 30])
    parser.add_argument("--chains", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="guided-start and chain seeds")
    parser.add_argument("--outdir", default="outdir_gibbs_iterations")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)
    loaded = load_model(args.model)
    metadata = loaded[1]
    if "gnpe" not in metadata:
        raise SystemExit(f"{args.model} is not a GNPE model: it has no Gibbs chains to study.")
    priors = training_priors(metadata)
    lookup_table = default_distance_lookup_table(os.path.join(args.outdir, "distance_marginalization_lookup.npz"))
    rows = []
    for survey in args.surveys:
        with open(os.path.join(survey, "refinement_efficiency.json")) as stream:
            settings = json.load(stream)
        for entry in settings["injections"]:
            index = entry["injection"]
            found = glob.glob(os.path.join(survey, f"injection_{index}", "dingo_refine_on", "*_checkpoint.npz"))
            if not found:
                print(f"{survey}: injection {index} has no checkpoint file (run with save=False kept): skipped")
                continue
            likelihood, analysis, _, psd_entry, snr = simulate_event_in_snr_band(
                metadata, priors, index, settings["seed"], (settings["min_snr"], settings["max_snr"]),
                settings["marginalised"], lookup_table)
            keys = [key for key, prior in analysis.items()
                    if isinstance(prior, bilby.core.prior.Prior) and not prior.is_fixed]
            proposal = GNPEProposal(args.model, likelihood, analysis, keys, gnpe_iterations=1, gnpe_chains=1,
                                    gnpe_guide_draws=2000, loaded_model=loaded)
            reference, weights, fingerprint = exact_proxies(found[0], proposal.proxy_keys)
            current = likelihood_fingerprint(likelihood)
            stale = [key for key in current if key.startswith("strain") and fingerprint.get(key) != current[key]]
            if stale:
                raise SystemExit(f"{found[0]} is of another event ({stale} differ): run the survey again.")
            exact_std = np.sqrt(weights @ (reference - weights @ reference) ** 2)
            row = dict(survey=survey, injection=index, psd=psd_entry, network_optimal_snr=snr,
                       n_eff=float(1 / np.sum(weights ** 2)), exact_std_ms=(1e3 * exact_std).tolist(), runs=[])
            for seed in args.seeds:
                starts = proposal.guided_start_times(likelihood, args.chains, seed)
                for iterations in args.iterations:
                    start = time.perf_counter()
                    if iterations:
                        proxies = proposal.gibbs_proxies(args.chains, iterations, seed, start_times=starts)
                    else:  # the guided start's times with one kernel draw: what the chains begin from
                        proxies = starts + proposal.kernel.sample(args.chains, np.random.default_rng(seed))
                    seconds = time.perf_counter() - start
                    distance = [1e3 * wasserstein_distance(proxies[:, i], reference[:, i], v_weights=weights)
                                for i in range(proxies.shape[1])]
                    row["runs"].append(dict(seed=seed, iterations=iterations, seconds=seconds,
                                            wasserstein_ms=distance, std_ms=(1e3 * proxies.std(axis=0)).tolist()))
                    print(f"{survey} injection {index} (SNR {snr:.1f}) seed {seed}, {iterations:3d} iterations: "
                          f"W1 {np.round(distance, 3)} ms, std {np.round(1e3 * proxies.std(axis=0), 2)} ms "
                          f"(exact {np.round(1e3 * exact_std, 2)}), {seconds:.1f} s", flush=True)
            rows.append(row)
            write_summary(args, rows)
    summarise(rows, args.iterations)
    return 0


def summarise(rows, iteration_counts):
    for iterations in iteration_counts:
        runs = [run for row in rows for run in row["runs"] if run["iterations"] == iterations]
        ratios = [np.max(np.array(run["std_ms"]) / np.array(row["exact_std_ms"]))
                  for row in rows for run in row["runs"] if run["iterations"] == iterations]
        print(f"{iterations:3d} iterations: median worst-detector W1 "
              f"{np.median([max(run['wasserstein_ms']) for run in runs]):.3f} ms, median std / exact "
              f"{np.median(ratios):.2f} (min {np.min(ratios):.2f}) over {len(runs)} runs")


def write_summary(args, rows):
    with atomic_path(os.path.join(args.outdir, "gnpe_gibbs_iterations.json"), suffix=".json") as temporary, \
            open(temporary, "w") as stream:
        json.dump(dict(model=args.model, chains=args.chains, iterations=args.iterations, seeds=args.seeds,
                       injections=rows), stream, indent=2)


if __name__ == "__main__":
    sys.exit(main())
