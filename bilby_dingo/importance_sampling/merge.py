"""Pool several importance-sampled runs of one analysis into one exact result.

bilby_pipe's ``n-parallel`` runs N analyses with seeds s, s+1, ... and merges them with
``bilby_result --merge``, which averages the evidences (unbiased, and identical to the pooled
estimate when every run made the same number of draws) but drops the weighted draws, keeps the
first run's ``meta_data`` and thins each posterior by its run's evidence. For an importance sampler
the exact merge pools the draws:

- log Z = logsumexp(all log w) − log(Σ N_k), and n_eff, ε, σ from the pooled weights;
- the posterior: run k kept draw i with probability w_i / max_k w (rejection sampling); keeping
  each of those rows again with probability max_k w / max w gives every draw of every run the
  probability w_i / max w, exactly what rejection sampling of the pooled draws does. The rows keep
  the columns bilby's conversion function added.

``bilby_dingo_merge`` does this from the command line.
"""

import argparse
import copy
import logging
import os
import re

import bilby
import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import MergeError
from ..utils import atomic_path
from .fingerprint import differing_components
from .result_files import ResultFileError, check_result_path, read_result
from .result_meta import DEFAULT_EFFICIENCY_WARNING, normalised_weights, weight_meta_data
from .statistics import summarize

logger = logging.getLogger(f"bilby.{__name__}")


def _check_mergeable(results):
    if len(results) < 1:
        raise MergeError("No results to merge.")
    for result in results:
        if result.sampler != "dingo":
            raise MergeError(f"{result.label} was sampled with {result.sampler!r}, not dingo; merge it with "
                             f"bilby_result --merge instead.")
        if result._nested_samples is None or "log_weights" not in result.nested_samples:
            raise MergeError(f"{result.label} has no weighted draws (nested_samples with log_weights): it is not an "
                             f"unmerged dingo result.")
    keys = results[0].search_parameter_keys
    for result in results[1:]:
        if result.search_parameter_keys != keys:
            raise MergeError(f"{result.label} samples {result.search_parameter_keys}, {results[0].label} samples {keys}: "
                             f"not the same analysis.")
        if not np.isclose(result.log_noise_evidence, results[0].log_noise_evidence, rtol=0, atol=1e-6, equal_nan=True):
            raise MergeError(f"{result.label} and {results[0].label} have different noise evidences: they analysed "
                             f"different data.")
    _check_same_analysis(results)
    _check_distinct_runs(results)


def _check_same_analysis(results):
    """Every run must carry the same analysis fingerprint (priors, data, likelihood, proposal; see fingerprint.py)."""
    fingerprints = [(result.meta_data or {}).get("dingo", {}).get("analysis_fingerprint") for result in results]
    missing = [result.label for result, fingerprint in zip(results, fingerprints) if not fingerprint]
    if missing:
        raise MergeError(f"{missing} carry no analysis fingerprint (meta_data['dingo']['analysis_fingerprint']): "
                         f"whether they analysed the same data and priors cannot be checked. Rerun them with this "
                         f"bilby_dingo, or combine their evidences with bilby_result --merge.")
    for result, fingerprint in zip(results[1:], fingerprints[1:]):
        differing = differing_components(fingerprints[0], fingerprint)
        if differing:
            raise MergeError(f"{result.label} and {results[0].label} are runs of different analyses (differing: "
                             f"{', '.join(differing)}); only runs of one analysis, with other seeds, can be pooled.")


def _check_distinct_runs(results):
    """Pooling a run with itself (or with a run of the same seed, whose draws repeat) would count its draws twice."""
    for i, first in enumerate(results):
        for second in results[i + 1:]:
            seeds = [(result.meta_data or {}).get("dingo", {}).get("sampling_seed") for result in (first, second)]
            columns = list(first.search_parameter_keys) + ["log_weights"]
            same_draws = set(columns) <= set(second.nested_samples) and first.nested_samples[columns].equals(
                second.nested_samples[columns])
            if (seeds[0] is not None and seeds[0] == seeds[1]) or same_draws:
                raise MergeError(
                    f"{first.label} and {second.label} are the same run (sampling_seed {seeds[0]} and {seeds[1]}"
                    f"{', identical draws' if same_draws else ''}): the same seed draws the same proposals, and "
                    f"pooling them would count those draws twice. Merge runs made with different sampling seeds.")


def _evidence_offset(result):
    """What bilby added to the sampler's evidence (the noise evidence when use_ratio was on)."""
    return result.log_evidence - summarize(result.nested_samples["log_weights"].to_numpy()).log_evidence


def merge_results(results, seed=None):
    """One :class:`bilby.core.result.Result` pooling the draws of dingo ``results`` of one analysis.

    Parameters
    ----------
    results: list of bilby.core.result.Result
        Unmerged dingo results (with their weighted draws in ``nested_samples``).
    seed: int, optional
        Seed of the thinning step that makes the merged posterior.
    """
    results = list(results)
    _check_mergeable(results)
    rng = np.random.default_rng(seed)
    offsets = [_evidence_offset(result) for result in results]
    if not np.allclose(offsets, offsets[0], rtol=0, atol=1e-6):
        raise MergeError("The results mix likelihood ratios and full likelihoods (bilby's use_ratio differs).")

    log_w_per_run = [result.nested_samples["log_weights"].to_numpy() for result in results]
    pooled = np.concatenate(log_w_per_run)
    # The runs' own threshold (bilby_pipe gives every parallel run the same sampler-kwargs).
    threshold = float((results[0].sampler_kwargs or {}).get("efficiency_warning") or DEFAULT_EFFICIENCY_WARNING)
    summary, weight_entries = weight_meta_data(pooled, threshold)
    overall_max = np.max(pooled)
    posteriors = []
    for result, log_w in zip(results, log_w_per_run):
        if not np.any(np.isfinite(log_w)):
            continue
        keep = rng.uniform(size=len(result.posterior)) < np.exp(np.max(log_w) - overall_max)
        posteriors.append(result.posterior[keep])

    merged = copy.copy(results[0])  # priors, injection, data meta_data, labels: the same for every run
    # bilby_pipe labels its parallel runs LABEL_par0, LABEL_par1, ...
    merged.label = re.sub(r"_par\d+$", "", results[0].label or "dingo") + "_merged"
    merged.sampler_kwargs = dict(results[0].sampler_kwargs or {}, sampling_seed=None)
    nested = pd.concat([result.nested_samples for result in results], ignore_index=True)
    nested["weights"] = normalised_weights(pooled)
    merged.nested_samples = nested
    merged.posterior = pd.concat(posteriors, ignore_index=True) if posteriors else results[0].posterior.iloc[:0]
    merged.log_evidence = summary.log_evidence + offsets[0]
    merged.log_evidence_err = summary.log_evidence_std
    merged.log_bayes_factor = merged.log_evidence - merged.log_noise_evidence
    merged.num_likelihood_evaluations = int(sum(result.num_likelihood_evaluations or 0 for result in results))
    times = [result.sampling_time for result in results if result.sampling_time is not None]
    merged.sampling_time = sum(times[1:], times[0]) if times else None

    metas = [result.meta_data["dingo"] for result in results]
    merged.meta_data = dict(merged.meta_data)
    merged.meta_data["dingo"] = dict(
        metas[0],
        sampling_seed=None,
        merged_from=[result.label for result in results],
        sampling_seeds=[meta.get("sampling_seed") for meta in metas],
        **weight_entries,
        num_batches=int(sum(meta.get("num_batches", 0) for meta in metas)),
        num_outside_prior=int(sum(meta.get("num_outside_prior", 0) for meta in metas)),
        num_nonfinite_likelihood=int(sum(meta.get("num_nonfinite_likelihood", 0) for meta in metas)),
        num_posterior_samples=int(len(merged.posterior)),
        proposal_time=float(sum(meta.get("proposal_time", 0.0) for meta in metas)),
        likelihood_time=float(sum(meta.get("likelihood_time", 0.0) for meta in metas)),
        # A per-run check against the model's training bounds: kept when any run raised it.
        scope_warning=next((meta["scope_warning"] for meta in metas if meta.get("scope_warning")), None),
    )
    logger.info(f"Merged {len(results)} dingo runs: {summary.num_draws} draws, n_eff {summary.n_eff:.1f}, "
                f"log Z {merged.log_evidence:.3f} ± {summary.log_evidence_std:.3f}, "
                f"{len(merged.posterior)} posterior samples")
    return merged


def read_results(paths):
    """The results at ``paths``, each read once through :func:`result_files.read_result` (no code runs).

    Every path is checked (extension, existence, no file given twice) before any file is read.
    """
    for path in paths:
        check_result_path(path)
    real = [os.path.realpath(path) for path in paths]
    for i, path in enumerate(real):
        if path in real[:i]:
            raise MergeError(f"{paths[i]} is given twice (as {paths[real.index(path)]} too): each run's draws can "
                             f"be pooled only once.")
    return [read_result(path) for path in paths]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="bilby_dingo_merge",
        description="Pool the weighted draws of several dingo runs of one analysis (e.g. bilby_pipe's n-parallel "
                    "par0, par1, ... results) into one exact result.")
    parser.add_argument("results", nargs="+", help="unmerged dingo result files (.hdf5, .h5 or .json)")
    parser.add_argument("--outdir", default=None, help="output directory (default: the first result's)")
    parser.add_argument("--label", default=None, help="output label (default: the first result's label without _parN, + _merged)")
    parser.add_argument("--extension", default="hdf5", choices=["hdf5", "json"], help="format of the merged result")
    parser.add_argument("--seed", type=int, default=None, help="seed of the posterior thinning")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="INFO")
    try:
        merged = merge_results(read_results(args.results), seed=args.seed)
    except (MergeError, ResultFileError) as error:
        parser.exit(2, f"bilby_dingo_merge: error: {error}\n")
    merged.outdir = args.outdir or merged.outdir
    merged.label = args.label or merged.label
    path = os.path.join(merged.outdir, f"{merged.label}_result.{args.extension}")
    os.makedirs(merged.outdir, exist_ok=True)
    with atomic_path(path, suffix=f".{args.extension}") as temporary:
        merged.save_to_file(filename=temporary, extension=args.extension, overwrite=True)
    print(path)
    return 0
