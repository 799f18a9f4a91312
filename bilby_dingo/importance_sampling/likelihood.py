"""Evaluating bilby's likelihood on many draws, in this process or in bilby's worker pool.

Workers find the likelihood, the fixed parameters and the search keys in bilby's
``_sampling_convenience_dump``, which :meth:`bilby.core.sampler.Sampler._setup_pool` fills in
every process; only the parameter arrays travel to the workers.
"""

import numpy as np
from bilby.core.sampler.base_sampler import _sampling_convenience_dump

from ..utils import log_likelihoods

# log_likelihoods moved to utils (proposals call it too); re-exported for code that imported it from here.
__all__ = ["LikelihoodEvaluator", "log_likelihood_of_rows", "log_likelihoods"]


def log_likelihood_of_rows(theta):
    """log L (or log L ratio) for each row of ``theta``, shape (n, D) → (n,), in any pool process.

    Module-level so that multiprocessing can pickle it.
    """
    dump = _sampling_convenience_dump
    return log_likelihoods(dump.likelihood, dump.search_parameter_keys, theta, dump.parameters, dump.use_ratio)


class LikelihoodEvaluator:
    """Callable mapping θ of shape (n, D) to log L of shape (n,), split over ``pool`` if given.

    The result does not depend on the pool: every row is evaluated by the same function, and
    ``pool.map`` keeps the order.
    """

    def __init__(self, pool=None, npool=1):
        self.pool = pool
        self.npool = max(int(npool or 1), 1)

    def __call__(self, theta):
        theta = np.asarray(theta, dtype=float)
        if len(theta) == 0:
            return np.empty(0)
        if self.pool is None:
            return log_likelihood_of_rows(theta)
        # Many small tasks per worker keep both busy until the end of each chunk of draws, even when
        # waveform costs vary across parameter space; each task still amortises its pickling.
        chunks = np.array_split(theta, min(len(theta), 16 * self.npool))
        return np.concatenate(self.pool.map(log_likelihood_of_rows, chunks))
