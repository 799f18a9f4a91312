"""bilby_dingo: neural posterior estimation with importance sampling for bilby.

The data flow, one module per step::

    proposals/            q(θ | d): the prior, a Student-t, (later) a trained network
    importance_sampling/  weights w = L π / q, evidence, n_eff, checkpoints, plots
    plugin.py             the ``dingo`` bilby sampler that joins them into a bilby.Result
"""

__version__ = "0.1.0"

from .proposals import MultivariateStudentTProposal, PriorProposal, Proposal

__all__ = ["MultivariateStudentTProposal", "PriorProposal", "Proposal", "__version__"]
