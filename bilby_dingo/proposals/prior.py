"""The bilby prior itself as a proposal: exact but inefficient, the reference point."""

import numpy as np

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
        samples = {key: np.empty(0) for key in self.parameter_keys}
        # Rejection on the constraints: draw a few more than needed until n survive.
        needed = n
        for _ in range(1000):
            unit = rng.uniform(size=(len(self.parameter_keys), max(2 * needed, 16)))
            values = self.priors.rescale(self.parameter_keys, unit)
            draws = {key: np.asarray(value, dtype=float) for key, value in zip(self.parameter_keys, values)}
            keep = np.asarray(self.priors.evaluate_constraints(dict(draws)), dtype=bool)
            keep = np.broadcast_to(keep, unit.shape[1])
            for key in self.parameter_keys:
                samples[key] = np.concatenate([samples[key], draws[key][keep]])
            needed = n - len(samples[self.parameter_keys[0]])
            if needed <= 0:
                break
        else:
            raise RuntimeError("The prior's constraints reject almost every draw; check the constraint priors.")
        samples = {key: value[:n] for key, value in samples.items()}
        log_prob = np.asarray(self.priors.ln_prob(samples, axis=0), dtype=float).reshape(n)
        return samples, log_prob
