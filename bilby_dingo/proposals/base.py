"""The interface every proposal distribution implements.

A proposal draws the sampled parameters θ (and, on an extended space, auxiliary variables a) with
their exact log density. Importance sampling needs only :meth:`Proposal.sample`; adaptive refinement
(:mod:`bilby_dingo.importance_sampling.refinement`) also evaluates the density at points the proposal
did not draw (:meth:`Proposal.log_prob`) and draws auxiliaries given θ (:meth:`Proposal.sample_auxiliary`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..errors import ProposalError


@dataclass
class ProposalDraws:
    """n draws of a proposal.

    Attributes
    ----------
    samples: dict[str, numpy.ndarray]
        The sampled parameters, keyed by bilby name, each of shape (n,).
    log_prob: numpy.ndarray, shape (n,)
        log q at the draws: of (θ, a) for an extended-space proposal.
    auxiliary: dict[str, numpy.ndarray]
        Auxiliary variables a drawn with θ (GNPE's time proxies, parameters the network learned but the
        analysis does not sample), each of shape (n,). Those named in the proposal's ``auxiliary_keys``
        are stored with the result.
    log_auxiliary_target: numpy.ndarray, shape (n,), or None
        log ρ(a | θ), the term an extended space adds to the target L π (None: no such term). ρ is a
        normalised density in a for every θ, so the evidence and the θ-posterior are unchanged.
    """

    samples: dict[str, np.ndarray]
    log_prob: np.ndarray
    auxiliary: dict[str, np.ndarray] = field(default_factory=dict)
    log_auxiliary_target: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.log_prob)

    def select(self, index) -> ProposalDraws:
        """The draws at ``index`` (an index array or a boolean mask)."""
        return ProposalDraws(
            {key: value[index] for key, value in self.samples.items()}, self.log_prob[index],
            {key: value[index] for key, value in self.auxiliary.items()},
            None if self.log_auxiliary_target is None else self.log_auxiliary_target[index])

    @staticmethod
    def concatenate(parts: list[ProposalDraws]) -> ProposalDraws:
        """One set of draws from several (every part with the same keys)."""
        first = parts[0]
        join = np.concatenate
        log_auxiliary = None
        if any(part.log_auxiliary_target is not None for part in parts):
            log_auxiliary = join([np.zeros(len(part)) if part.log_auxiliary_target is None else part.log_auxiliary_target
                                  for part in parts])
        return ProposalDraws({key: join([part.samples[key] for part in parts]) for key in first.samples},
                             join([part.log_prob for part in parts]),
                             {key: join([part.auxiliary[key] for part in parts]) for key in first.auxiliary},
                             log_auxiliary)


class Proposal(abc.ABC):
    """A distribution q(θ) that can be sampled with its log density evaluated at the draws.

    Subclasses set ``parameter_keys`` (bilby parameter names they produce) and implement
    :meth:`sample_and_log_prob` and :meth:`describe`. Implementing :meth:`log_prob` as well lets the
    sampler refine the proposal adaptively (``refine=True``, the default); without it the proposal is
    used as it is. Extended-space proposals (GNPE) override :meth:`sample`, :meth:`log_prob` and
    :meth:`sample_auxiliary`.
    """

    parameter_keys: list[str]
    # Auxiliary variables stored with every draw in the result (extended-space proposals).
    auxiliary_keys: tuple[str, ...] | list[str] = ()
    # Likelihood calls the proposal made while setting itself up (GNPE's guided chain start).
    setup_likelihood_evaluations: int = 0
    # The family refinement fits to this proposal's weighted draws with refine_density="auto".
    refinement_density: str = "student-t"

    @abc.abstractmethod
    def sample_and_log_prob(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
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
    def describe(self) -> str:
        """A one-line human-readable description, stored in the result's meta data."""

    def fingerprint(self) -> str:
        """A string that changes whenever the distribution q(θ) or its draws for a given seed change.

        A checkpoint is resumed only by a proposal with the same fingerprint. The default is
        :meth:`describe`: override it when the description leaves out something that changes q
        (numbers, a file's content).
        """
        return self.describe()

    def sample(self, n: int, rng: np.random.Generator) -> ProposalDraws:
        """Draw ``n`` points with everything importance sampling needs: a :class:`ProposalDraws`."""
        drawn = self.sample_and_log_prob(n, rng)
        if not isinstance(drawn, (tuple, list)) or len(drawn) != 2 or not isinstance(drawn[0], dict):
            got = type(drawn).__name__ if not isinstance(drawn, (tuple, list)) else \
                f"a {type(drawn).__name__} of {len(drawn)} ({', '.join(type(item).__name__ for item in drawn)})"
            raise ProposalError(
                f"The proposal ({self.describe()}).sample_and_log_prob returned {got}; it must return "
                f"(samples, log_prob): a dict of arrays keyed by parameter name and an array of log q (see "
                f"bilby_dingo.proposals.Proposal).")
        samples, log_prob = drawn
        return ProposalDraws(dict(samples), log_prob)

    def log_prob(self, samples: dict[str, np.ndarray], auxiliary: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """log q at given points (``samples`` as drawn, plus ``auxiliary`` for extended spaces), shape (n,).

        Optional: a proposal without it is not refined.
        """
        raise NotImplementedError(f"{type(self).__name__} does not evaluate its density at given points.")

    def log_auxiliary_target(self, samples: dict[str, np.ndarray],
                             auxiliary: dict[str, np.ndarray]) -> np.ndarray | None:
        """log ρ(a | θ), the term an extended space adds to the target, at given points (None: no term)."""
        return None

    def sample_auxiliary(self, samples: dict[str, np.ndarray],
                         rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Draw the auxiliary variables given θ from the target's own ρ(a | θ).

        Returns ``(auxiliary, log_auxiliary_target)``; plain proposals have none: ``({}, None)``.
        """
        return {}, None

    def check_covers(self, search_parameter_keys: list[str]) -> None:
        """Raise :class:`ProposalError` unless the proposal draws every sampled parameter."""
        missing = [key for key in search_parameter_keys if key not in self.parameter_keys]
        if missing:
            raise ProposalError(
                f"The proposal ({self.describe()}) does not draw the sampled parameter(s) {missing}; "
                f"it draws {list(self.parameter_keys)}. Fix the prior (make those parameters fixed "
                f"with a DeltaFunction) or use a proposal that covers them."
            )


def evaluates_density(proposal: Proposal) -> bool:
    """Whether ``proposal`` implements :meth:`Proposal.log_prob` (which refinement needs)."""
    return type(proposal).log_prob is not Proposal.log_prob


def as_float_array(values, n, key):
    """Return ``values`` as a float array of shape (n,), with a clear error otherwise."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape != (n,):
        raise ProposalError(f"The proposal returned {array.shape[0]} values of '{key}' for {n} draws.")
    return array
