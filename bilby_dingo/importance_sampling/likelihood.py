"""Evaluating bilby's likelihood on many draws, in this process or in bilby's worker pool.

Workers find the likelihood, the fixed parameters and the search keys in bilby's
``_sampling_convenience_dump``, which :meth:`bilby.core.sampler.Sampler._setup_pool` fills in
every process; only the parameter arrays travel to the workers.
"""

import inspect

import numpy as np
from bilby.core.likelihood import _safe_likelihood_call
from bilby.core.sampler.base_sampler import _sampling_convenience_dump


def log_likelihoods(likelihood, keys, theta, fixed, use_ratio=True):
    """log L (or the log L ratio) of a bilby likelihood for each row of ``theta`` (n, len(keys)) → (n,).

    Each call gets the ``fixed`` parameters plus the row's values for ``keys``.
    """
    method = likelihood.log_likelihood_ratio if use_ratio else likelihood.log_likelihood
    if "parameters" in inspect.signature(method).parameters:
        # bilby >= 2.7 likelihoods: inspect the signature once per chunk, not once per call.
        def call(parameters):
            return method(parameters=parameters)
    else:
        def call(parameters):
            return _safe_likelihood_call(likelihood, parameters=parameters, use_ratio=use_ratio)
    values = np.empty(len(theta))
    for i, row in enumerate(np.asarray(theta, dtype=float)):
        parameters = dict(fixed)
        parameters.update(zip(keys, row.tolist()))
        values[i] = call(parameters)
    return values


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
