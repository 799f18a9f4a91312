"""bilby_dingo: neural posterior estimation with importance sampling for bilby.

The data flow, one package per step::

    training/config.py    the training config (bilby_pipe-style ini)
    simulation/           waveforms, detector projection, PSDs and noise: training data as bilby sees it
    data/                 real strain (GWOSC files through gwpy) conditioned into bilby interferometers
    network/              embedding + glasflow flow: q(θ | d, S_n), and its model file
    training/             the training loop (bilby_dingo_train)
    proposals/            q(θ) for importance sampling: the prior, a Student-t, the trained network
    importance_sampling/  weights w = L π / q, evidence, n_eff, checkpoints, plots
    plugin.py             the ``dingo`` bilby sampler that joins them into a bilby.Result
    validation/           P-P tests over many injections (bilby_dingo_pp)
    models/               the default model: config, trained file, default_model(), analysis_priors()
"""

from . import errors
from ._version import __version__
from .errors import *  # noqa: F403  (every error class, listed in errors.__all__)
from .models import default_model
from .proposals import MultivariateStudentTProposal, PriorProposal, Proposal

__all__ = ["MultivariateStudentTProposal", "PriorProposal", "Proposal", "__version__", "default_model",
           *errors.__all__]
