"""A multivariate Student-t (or Gaussian) proposal with a given mean and covariance."""

import hashlib

import numpy as np
from scipy import stats

from .base import Proposal, ProposalError


class MultivariateStudentTProposal(Proposal):
    """q(θ) = t_ν(θ; μ, Σ), or the Gaussian N(μ, Σ) when ``dof`` is None or infinite.

    Heavy tails (small ν) make the proposal mass-covering, which importance sampling needs.
    Draws may fall outside the prior: they get weight zero without a likelihood call.

    Parameters
    ----------
    parameter_keys: list of str
        bilby parameter names, in the order of ``mean`` and ``covariance``.
    mean: array_like, shape (D,)
    covariance: array_like, shape (D, D)
        Scale matrix; for ν > 2 the covariance of the distribution is Σ ν / (ν − 2).
    dof: float or None
        Degrees of freedom ν > 0; None or inf gives a Gaussian.
    """

    def __init__(self, parameter_keys, mean, covariance, dof=None):
        self.parameter_keys = list(parameter_keys)
        dim = len(self.parameter_keys)
        self.mean = np.asarray(mean, dtype=float).reshape(-1)
        self.covariance = np.atleast_2d(np.asarray(covariance, dtype=float))
        if self.mean.shape != (dim,) or self.covariance.shape != (dim, dim):
            raise ProposalError(
                f"mean has shape {self.mean.shape} and covariance {self.covariance.shape}, but "
                f"{dim} parameter keys were given: expected ({dim},) and ({dim}, {dim})."
            )
        if not np.allclose(self.covariance, self.covariance.T):
            raise ProposalError("The covariance matrix is not symmetric.")
        if np.any(np.linalg.eigvalsh(self.covariance) <= 0):
            raise ProposalError("The covariance matrix is not positive definite.")
        if dof is not None and not dof > 0:
            raise ProposalError(f"dof must be positive (or None for a Gaussian), got {dof}.")
        self.dof = None if dof is None or np.isinf(dof) else float(dof)
        if self.dof is None:
            self._distribution = stats.multivariate_normal(self.mean, self.covariance)
        else:
            self._distribution = stats.multivariate_t(self.mean, self.covariance, df=self.dof)

    def describe(self):
        family = "Gaussian" if self.dof is None else f"Student-t (dof={self.dof:g})"
        return f"multivariate {family} over {self.parameter_keys}"

    def fingerprint(self):
        # describe() leaves out the mean and covariance; every bit of them changes q.
        numbers = np.concatenate([self.mean, self.covariance.ravel(), [np.inf if self.dof is None else self.dof]])
        return f"{self.describe()} {hashlib.sha256(numbers.tobytes()).hexdigest()}"

    def sample_and_log_prob(self, n, rng):
        values = np.asarray(self._distribution.rvs(size=n, random_state=rng)).reshape(n, -1)
        log_prob = np.asarray(self._distribution.logpdf(values)).reshape(n)
        samples = {key: values[:, i] for i, key in enumerate(self.parameter_keys)}
        return samples, log_prob

    def log_prob(self, samples, auxiliary=None):
        values = np.column_stack([np.asarray(samples[key], dtype=float) for key in self.parameter_keys])
        return np.asarray(self._distribution.logpdf(values)).reshape(len(values))


def heavy_tailed_fit(values):
    """A Student-t (5 degrees of freedom) with the mean and 1.5× the covariance of ``values`` (n, k)."""
    covariance = np.atleast_2d(np.cov(values.T)) * 1.5 + 1e-12 * np.eye(values.shape[1])
    return stats.multivariate_t(values.mean(axis=0), covariance, df=5)
