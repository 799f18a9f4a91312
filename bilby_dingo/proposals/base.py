"""The interface every proposal distribution implements."""

import abc

import numpy as np


class ProposalError(ValueError):
    """A proposal that cannot serve the requested analysis."""


class Proposal(abc.ABC):
    """A distribution q(θ) that can be sampled with its log density evaluated at the draws.

    Subclasses set ``parameter_keys`` (bilby parameter names they produce) and implement
    :meth:`sample_and_log_prob` and :meth:`describe`.
    """

    parameter_keys: list

    @abc.abstractmethod
    def sample_and_log_prob(self, n, rng):
        """Draw ``n`` samples and their log density.

        Parameters
        ----------
        n: int
            Number of draws.
        rng: numpy.random.Generator
            The only source of randomness, so that a run is reproducible from its seed.

        Returns
        -------
        samples: dict[str, numpy.ndarray]
            Draws keyed by bilby parameter name, each of shape (n,).
        log_prob: numpy.ndarray
            log q(θ_i), shape (n,).
        """

    @abc.abstractmethod
    def describe(self):
        """A one-line human-readable description, stored in the result's meta data."""

    def fingerprint(self) -> str:
        """A string that changes whenever the distribution q(θ) or its draws for a given seed change.

        A checkpoint is resumed only by a proposal with the same fingerprint. The default is
        :meth:`describe`: override it when the description leaves out something that changes q
        (numbers, a file's content).
        """
        return self.describe()

    def check_covers(self, search_parameter_keys):
        """Raise :class:`ProposalError` unless the proposal draws every sampled parameter."""
        missing = [key for key in search_parameter_keys if key not in self.parameter_keys]
        if missing:
            raise ProposalError(
                f"The proposal ({self.describe()}) does not draw the sampled parameter(s) {missing}; "
                f"it draws {list(self.parameter_keys)}. Fix the prior (make those parameters fixed "
                f"with a DeltaFunction) or use a proposal that covers them."
            )


def check_draws(proposal, drawn):
    """Raise :class:`ProposalError` unless ``drawn`` is what ``sample_and_log_prob`` must return:
    (samples dict, log_prob), or, for extended-space proposals, (samples, log_prob, extras dict)."""
    if not isinstance(drawn, (tuple, list)) or len(drawn) not in (2, 3) or not isinstance(drawn[0], dict) or \
            (len(drawn) == 3 and not isinstance(drawn[2], dict)):
        got = type(drawn).__name__ if not isinstance(drawn, (tuple, list)) else \
            f"a {type(drawn).__name__} of {len(drawn)} ({', '.join(type(item).__name__ for item in drawn)})"
        raise ProposalError(
            f"The proposal ({proposal.describe()}).sample_and_log_prob returned {got}; it must return "
            f"(samples, log_prob): a dict of arrays keyed by parameter name and an array of log q (see "
            f"bilby_dingo.proposals.Proposal).")


def as_float_array(values, n, key):
    """Return ``values`` as a float array of shape (n,), with a clear error otherwise."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape != (n,):
        raise ProposalError(f"The proposal returned {array.shape[0]} values of '{key}' for {n} draws.")
    return array
