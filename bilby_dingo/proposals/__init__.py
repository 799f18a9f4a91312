"""Proposal distributions q(θ) for importance sampling.

Every proposal implements :class:`Proposal`: ``sample_and_log_prob(n, rng)`` returns draws keyed by
bilby parameter names and their log density. The importance-sampling core needs nothing else.
"""

from .base import Proposal, ProposalError
from .prior import PriorProposal
from .student_t import MultivariateStudentTProposal

__all__ = ["MultivariateStudentTProposal", "PriorProposal", "Proposal", "ProposalError"]
