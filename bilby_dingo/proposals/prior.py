"""The bilby prior itself as a proposal: exact but inefficient, the reference point."""

import numpy as np

from ..utils import bilby_generator
from .base import Proposal


class PriorProposal(Proposal):
    """Draw from the bilby prior (constraints honoured) with the prior's own log density.

    Because q equals the prior, each importance weight equals the likelihood, and the constraint
    normalisation that bilby estimates numerically cancels exactly between π and q.

    Parameters
    ----------
    priors: bilby.core.prior.PriorDict
    parameter_keys: list of str
        The sampled parameters (bilby's search parameter keys).
    """

    def __init__(self, priors, parameter_keys):
        self.priors = priors
        self.parameter_keys = list(parameter_keys)

    def describe(self):
        return f"bilby prior over {self.parameter_keys}"

    def sample_and_log_prob(self, n, rng):
        with bilby_generator(rng):
            drawn = self.priors.sample_subset_constrained(keys=self.parameter_keys, size=n)
        samples = {key: np.asarray(drawn[key], dtype=float).reshape(n) for key in self.parameter_keys}
        return samples, self.log_prob(samples)

    def log_prob(self, samples, auxiliary=None):
        n = len(samples[self.parameter_keys[0]])
        values = {key: np.asarray(samples[key], dtype=float) for key in self.parameter_keys}
        return np.asarray(self.priors.ln_prob(values, axis=0), dtype=float).reshape(n)
