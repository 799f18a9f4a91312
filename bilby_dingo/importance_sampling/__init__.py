"""Importance sampling: from proposal draws to weights, evidence and unweighted samples.

statistics.py   pure functions of the log weights (evidence, n_eff, efficiency, rejection sampling)
draws.py        the growing set of evaluated draws, and its atomic checkpoint file
likelihood.py   evaluating bilby's likelihood on many draws, in one process or a pool
driver.py       the batched loop with its stopping rule, checkpoints and resume
diagnostics.py  the DINGO-IS weight plots
merge.py        pooling several runs of one analysis (bilby_pipe n-parallel) exactly
"""

from .statistics import ImportanceSamplingSummary, log_weights, rejection_sample, summarize

__all__ = ["ImportanceSamplingSummary", "log_weights", "rejection_sample", "summarize"]
