"""bilby_dingo: neural posterior estimation with importance sampling for bilby.

The data flow, one package per step (docs/architecture.md: what each may import)::

    training/config.py    the training config (bilby_pipe-style ini)
    simulation/           waveforms, detector projection, PSDs and noise: training data as bilby sees it
    data/                 real strain (GWOSC files through gwpy) conditioned into bilby interferometers
    network/              embedding + glasflow flow: q(θ | d, S_n), and its model file
    training/             the training loop (bilby_dingo_train)
    proposals/            q(θ) for importance sampling: the prior, a Student-t, the trained network, GNPE
    importance_sampling/  weights w = L π / q, evidence, n_eff, refinement, checkpoints, plots, merging
    settings.py           the sampler's keywords, typed and validated
    plugin.py             the ``dingo`` bilby sampler that joins them into a bilby.Result
    validation/           P-P tests over many injections (bilby_dingo_pp)
    models/               the default model: config, trained file, default_model(), analysis_priors()
    cli.py                the bilby_dingo_train and bilby_dingo_info commands

Shared by every step: ``utils.py`` (atomic file writes, bilby's random generator, the device, likelihood
calls), ``errors.py`` (:class:`BilbyDingoError` and the specific errors beneath it, exported here) and
``prior_strings.py`` (prior strings read without running code).
"""
from . import errors
from ._version import __version__
from .errors import *  # noqa: F403  (every error class, listed in errors.__all__)
from .models import default_model
from .proposals import MultivariateStudentTProposal, PriorProposal, Proposal

__all__ = ["MultivariateStudentTProposal", "PriorProposal", "Proposal", "__version__", "default_model",
           *errors.__all__]
