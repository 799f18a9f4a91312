"""Comparing a dingo result with another sampler's (dynesty) on the same likelihood: 1-D Jensen-Shannon
divergences of the marginals, the log-evidence difference in units of the combined error, likelihood
calls and wall time."""

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import gaussian_kde


def js_divergence(samples_a, samples_b, weights_a=None):
    """JSD (nats) between two 1-D sample sets through Gaussian KDEs on a shared grid."""
    low = min(samples_a.min(), samples_b.min())
    high = max(samples_a.max(), samples_b.max())
    grid = np.linspace(low, high, 400)
    density_a = gaussian_kde(samples_a, weights=weights_a)(grid)
    density_b = gaussian_kde(samples_b)(grid)
    return jensenshannon(density_a, density_b) ** 2


def reference_jsd_floor(other, keys, seed=0):
    """JSD (nats) between two random halves of the reference posterior, per parameter.

    The reference's own sampling noise: a JSD against it cannot be resolved much below this (it is the
    floor for samples of half the reference's size; about half of it for the full set).
    """
    order = np.random.default_rng(seed).permutation(len(other.posterior))
    halves = [other.posterior.iloc[part] for part in np.array_split(order, 2)]
    return {key: float(js_divergence(halves[0][key].to_numpy(), halves[1][key].to_numpy())) for key in keys}


def compare_results(dingo, other, keys, dingo_seconds=None, other_seconds=None):
    """Figures of merit of a dingo result against a reference result of the same analysis.

    The dingo marginals use every weighted draw (``nested_samples``), which carry all of n_eff.
    """
    weighted = dingo.nested_samples[dingo.nested_samples["weights"] > 0]
    divergences = {key: float(js_divergence(weighted[key].to_numpy(), other.posterior[key].to_numpy(),
                                            weights_a=weighted["weights"].to_numpy())) for key in keys}
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
