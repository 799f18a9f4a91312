"""What a dingo result reports about its weighted draws: one builder for a run and for a merge of runs.

The plugin (one run) and :mod:`merge` (pooled runs) both write ``nested_samples["weights"]`` and the
weight statistics of ``meta_data["dingo"]``; building them here keeps the two results' schema, the
normalisation and the warning threshold the same.
"""

import numpy as np
from scipy.special import logsumexp

from .statistics import efficiency_warning_message, pareto_k_hat, summarize

# The sampler's default ``efficiency_warning`` (settings.py reads it from here, and a merge of results
# that do not record theirs uses it too).
DEFAULT_EFFICIENCY_WARNING = 0.01


def normalised_weights(log_w):
    """w / Σw of log weights of shape (N,); all zeros when every weight is zero."""
    log_w = np.asarray(log_w, dtype=float)
    if not np.any(np.isfinite(log_w)):
        return np.zeros(log_w.shape)
    return np.exp(log_w - logsumexp(log_w))


def weight_meta_data(log_w, efficiency_threshold=DEFAULT_EFFICIENCY_WARNING):
    """The summary of log weights (N,) and the ``meta_data["dingo"]`` entries that come from them alone.

    Returns
    -------
    summary: bilby_dingo.importance_sampling.statistics.ImportanceSamplingSummary
    entries: dict
        ``num_proposals``, ``n_eff``, ``sample_efficiency``, ``log_evidence_std``, ``pareto_k``,
        ``num_zero_weight`` and ``efficiency_warning`` (the message, '' when the weights look reliable).
    """
    summary = summarize(log_w)
    pareto_k = pareto_k_hat(log_w)
    entries = dict(
        num_proposals=int(summary.num_draws),
        n_eff=summary.n_eff,
        sample_efficiency=summary.sample_efficiency,
        log_evidence_std=summary.log_evidence_std,
        pareto_k=pareto_k,
        num_zero_weight=summary.num_zero_weight,
        efficiency_warning=efficiency_warning_message(summary, efficiency_threshold, pareto_k),
    )
    return summary, entries
