"""Small likelihoods with known answers, importable by pool workers and subprocesses."""

import os
import signal

import bilby
import numpy as np


class NormalisedGaussianLikelihood(bilby.Likelihood):
    """L(θ) = N(θ; mean, cov), normalised over θ: inside a uniform prior of volume V, Z = 1/V."""

    def __init__(self, mean, cov):
        super().__init__()
        self.keys = list(mean)
        self.mean = np.array([mean[key] for key in self.keys])
        self.cov = np.asarray(cov, dtype=float)
        self.inverse = np.linalg.inv(self.cov)
        self.log_norm = -0.5 * np.linalg.slogdet(2 * np.pi * self.cov)[1]

    def log_likelihood(self, parameters=None):
        residual = np.array([parameters[key] for key in self.keys]) - self.mean
        return self.log_norm - 0.5 * residual @ self.inverse @ residual


class CountingLikelihood(NormalisedGaussianLikelihood):
    """Counts its calls; optionally sends itself a signal after ``signal_after`` calls."""

    def __init__(self, mean, cov, signal_after=None, signum=signal.SIGTERM):
        super().__init__(mean, cov)
        self.calls = 0
        self.signal_after = signal_after
        self.signum = signum

    def log_likelihood(self, parameters=None):
        self.calls += 1
        if self.signal_after is not None and self.calls == self.signal_after:
            os.kill(os.getpid(), self.signum)
        return super().log_likelihood(parameters)


class CheckpointReader(NormalisedGaussianLikelihood):
    """At its ``at_call``-th call, records how many evaluated draws the checkpoint at ``path`` holds then."""

    def __init__(self, mean, cov, path, at_call):
        super().__init__(mean, cov)
        self.path = path
        self.at_call = at_call
        self.calls = 0
        self.seen = None

    def log_likelihood(self, parameters=None):
        self.calls += 1
        if self.calls == self.at_call:
            from bilby_dingo.importance_sampling.draws import DrawStore

            self.seen = DrawStore.load(self.path).num_evaluated if os.path.exists(self.path) else "no checkpoint"
        return super().log_likelihood(parameters)


class NaNLikelihood(NormalisedGaussianLikelihood):
    """Returns NaN wherever x > threshold, like a waveform model failing in part of the space."""

    def __init__(self, mean, cov, threshold):
        super().__init__(mean, cov)
        self.threshold = threshold

    def log_likelihood(self, parameters=None):
        if parameters["x"] > self.threshold:
            return np.nan
        return super().log_likelihood(parameters)


def linear_model(x, m, c):
    """bilby's linear-model example: y = m x + c."""
    return m * x + c


def linear_model_problem(seed=42, n_points=100, sigma=1.0, injection=None):
    """bilby's GaussianLikelihood on straight-line data, as in bilby's linear_regression example.

    Returns the likelihood, the priors and the exact Gaussian posterior of (m, c) under a flat
    prior (mean, covariance), which is what a good proposal would be built from.
    """
    injection = injection or dict(m=0.9, c=0.2)
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, n_points)
    y = linear_model(x, **injection) + rng.normal(0, sigma, n_points)
    likelihood = bilby.core.likelihood.GaussianLikelihood(x, y, linear_model, sigma)
    priors = bilby.core.prior.PriorDict(
        dict(m=bilby.core.prior.Uniform(0, 5, "m"), c=bilby.core.prior.Uniform(-2, 2, "c"))
    )
    design = np.column_stack([x, np.ones_like(x)])
    covariance = sigma**2 * np.linalg.inv(design.T @ design)
    mean = covariance @ design.T @ y / sigma**2
    return likelihood, priors, mean, covariance
