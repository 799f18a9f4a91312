"""Comparing a dingo result with another sampler's (dynesty) on the same likelihood: 1-D Jensen-Shannon
divergences of the marginals, the log-evidence difference in units of the combined error, likelihood
calls and wall time."""

import json
import os
import time

import bilby
import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import gaussian_kde

from ..proposals import MultivariateStudentTProposal


def js_divergence(samples_a, samples_b, weights_a=None, period=None, weights_b=None):
    """JSD (nats) between two 1-D sample sets through Gaussian KDEs on a shared grid.

    ``period``: (minimum, maximum) of a periodic parameter (ra, psi). A KDE on the line sees a mode that
    straddles the wrap point as two half-modes whose edges it smears, so the JSD would depend on where
    the circle is cut; both sets are first rotated so that the cut lies in the emptiest stretch of their
    pooled samples.
    """
    if period is not None:
        samples_a, samples_b = _cut_circle_where_empty(samples_a, samples_b, *period)
    low = min(samples_a.min(), samples_b.min())
    high = max(samples_a.max(), samples_b.max())
    grid = np.linspace(low, high, 400)
    density_a = gaussian_kde(samples_a, weights=weights_a)(grid)
    density_b = gaussian_kde(samples_b, weights=weights_b)(grid)
    return jensenshannon(density_a, density_b) ** 2


def _cut_circle_where_empty(samples_a, samples_b, minimum, maximum, bins=72):
    period = maximum - minimum
    pooled = np.concatenate([samples_a, samples_b])
    counts, edges = np.histogram(np.mod(pooled - minimum, period), bins=bins, range=(0, period))
    cut = edges[np.argmin(counts)] + 0.5 * period / bins
    return (np.mod(samples_a - minimum - cut, period), np.mod(samples_b - minimum - cut, period))


def periods(result, keys):
    """{key: (minimum, maximum)} for the keys whose prior in ``result`` is periodic."""
    try:
        priors = result.priors
    except ValueError:  # bilby raises when a result was built without priors
        return {}
    return {key: (priors[key].minimum, priors[key].maximum) for key in keys
            if getattr(priors.get(key), "boundary", None) == "periodic"}


def reference_jsd_floor(other, keys, seed=0):
    """JSD (nats) between two random halves of the reference posterior, per parameter.

    The reference's own sampling noise: a JSD against it cannot be resolved much below this (it is the
    floor for samples of half the reference's size; about half of it for the full set).
    """
    order = np.random.default_rng(seed).permutation(len(other.posterior))
    halves = [other.posterior.iloc[part] for part in np.array_split(order, 2)]
    cycles = periods(other, keys)
    return {key: float(js_divergence(halves[0][key].to_numpy(), halves[1][key].to_numpy(), period=cycles.get(key)))
            for key in keys}


def compare_results(dingo, other, keys, dingo_seconds=None, other_seconds=None):
    """Figures of merit of a dingo result against a reference result of the same analysis.

    The dingo marginals use every weighted draw (``nested_samples``), which carry all of n_eff; periodic
    parameters (by the reference's priors) are compared on the circle (see :func:`js_divergence`).
    """
    divergences = jsds_against_posterior(dingo, other, keys)
    error = float(np.hypot(dingo.log_evidence_err, other.log_evidence_err))
    meta = dingo.meta_data["dingo"]
    summary = dict(
        jsd_nats=divergences, max_jsd_nats=max(divergences.values()),
        reference_half_split_jsd_nats=reference_jsd_floor(other, keys),
        log_evidence_dingo=float(dingo.log_evidence), log_evidence_err_dingo=float(dingo.log_evidence_err),
        log_evidence_other=float(other.log_evidence), log_evidence_err_other=float(other.log_evidence_err),
        log_evidence_difference=float(dingo.log_evidence - other.log_evidence), combined_error=error,
        sample_efficiency=float(meta["sample_efficiency"]), n_eff=float(meta["n_eff"]),
        likelihood_calls_dingo=int(dingo.num_likelihood_evaluations),
        likelihood_calls_other=int(other.num_likelihood_evaluations or 0),
    )
    if dingo_seconds is not None and other_seconds is not None:
        summary.update(wall_time_dingo_s=float(dingo_seconds), wall_time_other_s=float(other_seconds),
                       speed_up=float(other_seconds / dingo_seconds))
    return summary


def _weighted_draws(result):
    return result.nested_samples[result.nested_samples["weights"] > 0]


def jsds_against_posterior(dingo, other, keys):
    """1-D JSDs (nats) of a dingo result's weighted draws against ``other``'s posterior rows, per key
    (periodic parameters by ``other``'s priors on the circle)."""
    weighted = _weighted_draws(dingo)
    cycles = periods(other, keys)
    return {key: float(js_divergence(weighted[key].to_numpy(), other.posterior[key].to_numpy(),
                                     weights_a=weighted["weights"].to_numpy(), period=cycles.get(key)))
            for key in keys}


def weighted_jsds(result_a, result_b, keys, periodic_from):
    """1-D JSDs (nats) between two dingo results' weighted draws (``nested_samples``), per key."""
    draws = [_weighted_draws(result) for result in (result_a, result_b)]
    cycles = periods(periodic_from, keys)
    return {key: float(js_divergence(draws[0][key].to_numpy(), draws[1][key].to_numpy(), period=cycles.get(key),
                                     weights_a=draws[0]["weights"].to_numpy(), weights_b=draws[1]["weights"].to_numpy()))
            for key in keys}


def reference_seeded_check(likelihood, priors, reference, dingo, keys, outdir, **run_kwargs):
    """Which side is right where dingo and a reference sampler disagree: importance sampling seeded by the reference.

    The proposal is a Student-t (5 degrees of freedom) with the reference posterior's mean and twice its
    covariance, refined with spline flows (``refine_density="flow"``) and weighed by the same likelihood and
    prior. Its weights are exact like any dingo run's, and it never saw the network: where the reference
    under-populates a region, this proposal under-covers it too and its draws there carry large weights, so
    the reweighted answer moves towards the truth; where the network-based proposal missed something, this
    one (built around the reference's samples) finds it. Agreement with dingo and not the reference sides
    with dingo, and conversely.

    ``run_kwargs`` go to ``bilby.run_sampler`` (target_n_eff, max_samples, npool, sampling_seed, ...; they
    may replace the defaults: refine_density "flow", label "reference_seeded", save "hdf5").
    Returns (the seeded result, dict of its figures: JSDs against the reference and against dingo, log Z).
    """
    values = reference.posterior[list(keys)].to_numpy()
    proposal = MultivariateStudentTProposal(keys, values.mean(axis=0), 2.0 * np.cov(values.T), dof=5)
    settings = dict(refine_density="flow", label="reference_seeded", save="hdf5", resume=False,
                    diagnostic_plots=False)
    seeded = bilby.run_sampler(likelihood, priors, sampler="dingo", proposal=proposal, outdir=outdir,
                               **{**settings, **run_kwargs})
    meta = seeded.meta_data["dingo"]
    return seeded, dict(
        jsd_vs_reference_nats=jsds_against_posterior(seeded, reference, keys),
        jsd_vs_dingo_nats=weighted_jsds(seeded, dingo, keys, periodic_from=reference),
        log_evidence=float(seeded.log_evidence), log_evidence_err=float(seeded.log_evidence_err),
        sample_efficiency=float(meta["sample_efficiency"]), n_eff=float(meta["n_eff"]),
        likelihood_calls=int(seeded.num_likelihood_evaluations))


def dynesty_reference(likelihood, priors, outdir, settings, seed, injection_parameters=None, npool=1):
    """bilby + dynesty on the analysis, or its result read back when this outdir already holds it.

    dynesty is the expensive side of a comparison (1-3 million likelihood calls, one to two hours on two
    cores), so its result is kept (``outdir/dynesty_result.hdf5``) and reused by a later comparison of the
    same analysis: ``settings`` (dict: ``nlive``, ``naccept`` and anything else that identifies the run,
    e.g. the trigger time of real data) and ``injection_parameters`` must match those stored; ``seed`` is
    dynesty's. An interrupted run
    resumes from dynesty's own checkpoint. Returns (result, dynesty's sampling time in seconds).
    """
    path = os.path.join(outdir, "dynesty_result.hdf5")
    if os.path.exists(path):
        stored = bilby.read_in_result(path)
        same_injection = (injection_parameters is None) == (stored.injection_parameters is None) and (
            injection_parameters is None or all(np.isclose(stored.injection_parameters.get(key, np.nan), value)
                                                for key, value in injection_parameters.items()))
        if same_injection and stored.meta_data.get("dynesty_settings") == settings:
            return stored, float(stored.meta_data["dynesty_wall_time_s"])
        bilby.core.utils.logger.warning(f"{path} is of another analysis or dynesty setting: running dynesty again")
    # dynesty's checkpoint does not know its settings: resume it only when this file says they were the same.
    settings_path = os.path.join(outdir, "dynesty_settings.json")
    checkpoint = os.path.join(outdir, "dynesty_resume.pickle")
    same_settings = False
    if os.path.exists(settings_path):
        with open(settings_path) as stream:
            same_settings = json.load(stream) == json.loads(json.dumps(settings))
    if os.path.exists(checkpoint) and not same_settings:
        os.remove(checkpoint)
    os.makedirs(outdir, exist_ok=True)
    with open(settings_path, "w") as stream:
        json.dump(settings, stream)
    start = time.perf_counter()
    result = bilby.run_sampler(likelihood, priors, sampler="dynesty", label="dynesty", outdir=outdir,
                               nlive=settings["nlive"], sample="acceptance-walk", naccept=settings["naccept"],
                               seed=seed, npool=npool, resume=True, check_point_delta_t=300,
                               print_progress=False, injection_parameters=injection_parameters, save="hdf5",
                               meta_data=dict(dynesty_settings=settings))
    # bilby's sampling_time covers a resumed run's earlier part too (its sampling-time file).
    result.meta_data["dynesty_wall_time_s"] = float(result.sampling_time or time.perf_counter() - start)
    result.save_to_file(extension="hdf5", overwrite=True, outdir=outdir)
    return result, result.meta_data["dynesty_wall_time_s"]
