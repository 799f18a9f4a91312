r"""The defensive mixture Q = α q₀ + (1 − α) q_fit of a base proposal and a fitted density.

q₀ is the base proposal (the network, GNPE, the prior, a Student-t, a user's :class:`Proposal`), broad
but covering the posterior; q_fit a sharper :class:`bilby_dingo.proposals.fitted.FittedDensity`.
Every draw is weighted with Q's density at that point, whichever component drew it (the deterministic
mixture weight), so that for any θ

.. math::
    w = \frac{L \pi \rho}{Q} \le \frac{1}{\alpha} \frac{L \pi \rho}{q_0},

i.e. no weight exceeds 1/α times the base proposal's: the fit can only sharpen the proposal, never make
the estimate heavy-tailed where q₀ covers the posterior (Hesterberg 1995; Owen & Zhou 2000).

On an extended space (GNPE's time proxies t̂, a network's learned-but-unsampled parameters), the fitted
component draws θ ~ q_fit and the auxiliaries from the target's own ρ(a | θ) (see
:meth:`Proposal.sample_auxiliary`), so its density is q_fit(θ) ρ(a | θ); the base density q₀(θ, a) is
evaluated at its draws by :meth:`Proposal.log_prob` (for a network: one network pass per draw).
"""

import numpy as np

from .base import Proposal, ProposalDraws, ProposalError, evaluates_density

BASE_LOG_PROB = "log_base_proposal"  # the auxiliary column holding log q₀ at each draw


class DefensiveMixtureProposal(Proposal):
    """Q = α q₀ + (1 − α) q_fit.

    Parameters
    ----------
    base: Proposal
        q₀; must implement :meth:`Proposal.log_prob`.
    density: bilby_dingo.proposals.fitted.FittedDensity
        q_fit over the sampled parameters (``base.parameter_keys``).
    alpha: float in (0, 1]
        Weight of the base proposal.
    """

    def __init__(self, base, density, alpha):
        if not evaluates_density(base):
            raise ProposalError(f"The base proposal ({base.describe()}) does not implement log_prob, which a "
                                f"mixture needs at the points the fitted component draws.")
        if not 0 < alpha <= 1:
            raise ProposalError(f"The defensive weight alpha={alpha} must lie in (0, 1].")
        if sorted(density.keys) != sorted(base.parameter_keys):
            raise ProposalError(f"The fitted density covers {density.keys}, the base proposal draws "
                                f"{list(base.parameter_keys)}: they must be the same parameters.")
        self.base = base
        self.density = density
        self.alpha = float(alpha)
        self.parameter_keys = list(base.parameter_keys)
        # log q₀ at every draw travels with it: the defensive bound can be checked from the result file,
        # and refinement pools rounds with the exact density of every round's proposal.
        self.auxiliary_keys = list(base.auxiliary_keys) + [BASE_LOG_PROB]
        self.setup_likelihood_evaluations = base.setup_likelihood_evaluations

    def describe(self):
        return (f"defensive mixture {self.alpha:g} x base + {1 - self.alpha:g} x fitted "
                f"{self.density.describe()} ({self.density.digest()}); "
                f"base: {self.base.describe()}")

    def fingerprint(self):
        return f"mixture {self.alpha!r} {self.density.digest()} of {self.base.fingerprint()}"

    def _log_mixture(self, log_base, log_fitted, log_auxiliary):
        log_component = log_fitted if log_auxiliary is None else log_fitted + log_auxiliary
        with np.errstate(invalid="ignore"):
            return np.logaddexp(np.log(self.alpha) + log_base, np.log1p(-self.alpha) + log_component) \
                if self.alpha < 1 else np.asarray(log_base, dtype=float)

    def sample(self, n, rng):
        num_base = int(rng.binomial(n, self.alpha))
        parts = []
        if num_base:
            base = self.base.sample(num_base, rng)
            base.auxiliary[BASE_LOG_PROB] = base.log_prob
            base.log_prob = self._log_mixture(base.log_prob, self.density.log_prob(base.samples),
                                              base.log_auxiliary_target)
            parts.append(base)
        if n - num_base:
            samples = self.density.sample(n - num_base, rng)
            auxiliary, log_auxiliary = self.base.sample_auxiliary(samples, rng)
            log_base = self.base.log_prob(samples, auxiliary)
            auxiliary[BASE_LOG_PROB] = log_base
            parts.append(ProposalDraws(samples, self._log_mixture(log_base, self.density.log_prob(samples),
                                                                  log_auxiliary), auxiliary, log_auxiliary))
        drawn = ProposalDraws.concatenate(parts)
        # Draws in random order, as from the mixture directly (the stopping rule splits them in order).
        return drawn.select(rng.permutation(n))

    def sample_and_log_prob(self, n, rng):
        drawn = self.sample(n, rng)
        return drawn.samples, drawn.log_prob

    def log_prob(self, samples, auxiliary=None):
        auxiliary = auxiliary or {}
        # The fitted component's density is q_fit(θ) ρ(a | θ), ρ the base proposal's extended-space target term.
        return self._log_mixture(self.base.log_prob(samples, auxiliary), self.density.log_prob(samples),
                                 self.base.log_auxiliary_target(samples, auxiliary))

    def log_auxiliary_target(self, samples, auxiliary):
        return self.base.log_auxiliary_target(samples, auxiliary)

    def sample_auxiliary(self, samples, rng):
        return self.base.sample_auxiliary(samples, rng)
