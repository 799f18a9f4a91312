"""Importance sampling: from proposal draws to weights, evidence and unweighted samples.

statistics.py   pure functions of the log weights (evidence, n_eff, efficiency, rejection sampling)
draws.py        the growing set of evaluated draws, and its atomic checkpoint file
fingerprint.py  named hashes of what changes an analysis' answer (checkpoints, merging)
likelihood.py   evaluating bilby's likelihood on many draws, in one process or a pool
driver.py       the batched loop with its stopping rule, checkpoints and resume
diagnostics.py  the DINGO-IS weight plots
merge.py        pooling several runs of one analysis (bilby_pipe n-parallel) exactly
result_files.py reading result files from elsewhere without running code named in them
"""

from .statistics import ImportanceSamplingSummary, log_weights, rejection_sample, summarize

__all__ = ["ImportanceSamplingSummary", "log_weights", "rejection_sample", "summarize"]
