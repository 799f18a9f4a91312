"""The ``dingo`` bilby sampler: proposal draws → importance weights → a standard ``bilby.Result``.

Registered through the ``bilby.samplers`` entry point, so ``bilby.run_sampler(..., sampler="dingo")``
and ``sampler = dingo`` in a bilby_pipe ini file select it.
"""

import copyreg
import dataclasses
import functools
import inspect
import logging
import os
import textwrap

import numpy as np
import pandas as pd
from bilby.core.sampler.base_sampler import Sampler, signal_wrapper
from bilby.core.utils import random as bilby_random

from ._version import __version__
from .errors import SettingsError
from .importance_sampling.diagnostics import (
    plot_log_probabilities,
    plot_posterior_corner,
    plot_refinement,
    plot_weight_distribution,
    plot_weights,
)
from .importance_sampling.draws import CheckpointError, DrawStore
from .importance_sampling.driver import ImportanceSamplingRun
from .importance_sampling.fingerprint import analysis_fingerprint, differing_components
from .importance_sampling.likelihood import LikelihoodEvaluator
from .importance_sampling.refinement import ProposalRefinement, state_files, stored_seed
from .importance_sampling.result_meta import normalised_weights, weight_meta_data
from .importance_sampling.statistics import rejection_sample, resample
from .proposals import PriorProposal, Proposal, ProposalError
from .proposals.event_data import ModelScopeError, posterior_at_training_bounds
from .proposals.sky_frame import sky_frame_for
from .settings import KEYWORD_ALIASES, DingoSettings, _none_if_null, keyword_docstring, parse_npool
from .utils import ascii_safe

logger = logging.getLogger(f"bilby.{__name__}")  # shows in bilby's log, with its format

# Arguments bilby's Sampler takes by name; everything else is a dingo keyword.
_BILBY_SAMPLER_ARGUMENTS = set(inspect.signature(Sampler.__init__).parameters) - {"self", "kwargs"}


def default_model_for(likelihood):
    """The shipped default model's path if it can serve ``likelihood`` (GW data, the file present), else None.

    Only a resolver: the caller decides whether to use it (no model and no proposal given) and updates
    the settings.
    """
    from . import models

    if getattr(likelihood, "interferometers", None) is None or not os.path.isfile(models.DEFAULT_MODEL_FILE):
        return None
    return models.DEFAULT_MODEL_FILE


def transferred_model_path(path):
    """``path``, or the file of that name in the working directory where ``path`` does not exist.

    On a cluster, bilby_pipe's analysis job runs in a scratch directory, and HTCondor puts the files of
    ``additional-transfer-paths`` (``transfer_input_files``) there under their own names: ``model=/home/me/m.pt``
    or ``model=models/m.pt`` then arrives as ``./m.pt``. A path that exists is always used as given.
    """
    if path is None or os.path.exists(path):
        return path
    here = os.path.basename(path)
    if here and here != path and os.path.isfile(here):
        logger.warning(f"The model {path} is not here; using {os.path.abspath(here)}, a file of that name in the working "
                    f"directory (where HTCondor puts bilby_pipe's additional-transfer-paths)")
        return here
    return path


def remove_files(paths):
    """Remove ``paths`` (those that exist) and then their folders where these are left empty."""
    for path in paths:
        if os.path.exists(path):
            os.remove(path)
    for folder in {os.path.dirname(path) for path in paths}:
        if folder and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def discard_run_files(result):
    """Remove the checkpoint and refinement files of a run whose result the caller keeps otherwise.

    With bilby's ``save=False`` no result file is written, so nothing removes them (the files stay for whoever
    wants them). A caller that keeps what it needs from the result in memory, as ``bilby_dingo_pp`` does in
    its per-injection records, calls this instead: otherwise every analysis leaves its draws behind (9 MB an
    injection with refinement). With ``keep_checkpoint=True`` nothing is listed, so nothing is removed.
    Returns the paths it removed (None when nothing was listed).
    """
    paths = result.__dict__.pop("_dingo_remove_after_save", None)
    if paths:
        remove_files(paths)
    return paths


@functools.lru_cache(maxsize=None)
def hdf5_by_default(result_class):
    """``result_class`` with a ``save_to_file`` that writes hdf5 where the caller chose no format, and then
    removes the run's checkpoint files (those listed in the result's ``_dingo_remove_after_save``).

    bilby's ``run_sampler`` keeps its ``save`` keyword to itself (``save=True``, its default, means json) and
    calls ``result.save_to_file(extension=save)`` after the sampler has returned: the result object is the
    sampler's only hook. An explicit format (``save="json"``, ``"hdf5"``, ``"pkl"``, bilby_pipe's
    ``result-format``, ``gzip=True``) is kept. Files record the original class (its module and name), and a
    pickle or copy of such a result is of the original class.
    """

    class DingoRunResult(result_class):
        def save_to_file(self, filename=None, overwrite=False, outdir=None, extension=None, gzip=False):
            if extension is True and filename is None and not gzip:
                extension = "hdf5"
            super().save_to_file(filename=filename, overwrite=overwrite, outdir=outdir, extension=extension,
                                 gzip=gzip)
            paths = discard_run_files(self)
            if paths:
                logger.info(f"Result written: removed the checkpoint files {paths} (keep_checkpoint=True keeps them)")

        def __reduce_ex__(self, protocol):
            state = {key: value for key, value in self.__dict__.items() if key != "_dingo_remove_after_save"}
            return copyreg._reconstructor, (result_class, object, None), state

    DingoRunResult.__name__, DingoRunResult.__qualname__ = result_class.__name__, result_class.__qualname__
    DingoRunResult.__module__ = result_class.__module__
    return DingoRunResult


class Dingo(Sampler):
    """Importance sampling of bilby's likelihood and prior with a proposal distribution q(θ).

    Draws θ_i ~ q, weighs them by w_i = L(θ_i) π(θ_i) / q(θ_i) and returns the evidence
    log Z = log(Σ w_i / N) with its standard error, the sample efficiency n_eff / N, an unweighted
    posterior by rejection sampling (``result.samples``) and every weighted draw
    (``result.nested_samples``). Draws outside the prior get weight zero without a likelihood call.

    The keywords (from :class:`bilby_dingo.settings.DingoSettings`, the one keyword table) follow.
    """

    sampler_name = "dingo"
    abbreviation = "dingo"
    sampling_seed_key = "sampling_seed"
    default_kwargs = {name: getattr(DingoSettings, name) for name in DingoSettings.keywords()}
    hard_exit = False

    def __init__(self, likelihood, priors, **kwargs):
        # Check our keywords before bilby spends time on likelihood calls in Sampler.__init__.
        dingo_keywords = self._translate_aliases(
            {key: value for key, value in kwargs.items() if key not in _BILBY_SAMPLER_ARGUMENTS})
        given = DingoSettings.from_kwargs(dingo_keywords, ignored=self.npool_equiv_kwargs)
        for key in self.npool_equiv_kwargs:
            if key in kwargs:
                kwargs[key] = parse_npool(key, kwargs[key])
        proposal_given = _none_if_null(dingo_keywords.get("proposal")) is not None
        self._run = None
        self.proposal = None  # bilby's keyword log line waits for it (_log_summary_for_sampler)
        super().__init__(likelihood, priors, **kwargs)
        default_model = None if given.model is not None or proposal_given else default_model_for(likelihood)
        uses_default_model = default_model is not None
        if given.model is not None:
            self.settings = dataclasses.replace(self.settings, model=transferred_model_path(self.settings.model))
        if uses_default_model:
            logger.info(f"No model given: using the default model {default_model}")
            self.settings = dataclasses.replace(self.settings, model=default_model, proposal="network")
            self._kwargs.update(model=default_model, proposal="network")
        # The run's one seed, fixed before the proposal is built: a network proposal sets up with it (GNPE's
        # Gibbs chains, the auxiliary fit), so an unseeded or resumed run sets up with the seed it records.
        self.seed = self._sampling_seed()
        try:
            self.proposal = self._build_proposal(self.settings.proposal)
        except ModelScopeError as error:
            if not uses_default_model:
                raise
            from .models import DEFAULT_MODEL_CONFIG

            raise ProposalError(
                f"No model was given, so the default model was used, and this analysis is outside its scope: {error}\n"
                f"The default model's scope is in {DEFAULT_MODEL_CONFIG}. To analyse these data, copy that config, "
                f"change the data settings, prior or detectors to match your analysis, train with "
                f"`bilby_dingo_train my_model.ini --outdir outdir_my_model` and pass "
                f"model='outdir_my_model/<label>_model.pt' (sampler-kwargs in bilby_pipe); or pass proposal='prior' "
                f"to importance-sample from the prior.") from error
        self._log_summary_for_sampler()

    # --- keywords ----------------------------------------------------------------------------------

    @property
    def external_sampler_name(self):
        return "bilby_dingo"

    @staticmethod
    def _translate_aliases(kwargs):
        translated, spelling = {}, {}
        for key, value in kwargs.items():
            name = key.replace("-", "_")
            name = KEYWORD_ALIASES.get(name, name)
            if name in translated and translated[name] != value:
                hint = (" In bilby_pipe, set the seed with the top-level 'sampling-seed' option: bilby_pipe "
                        "adds sampling_seed to sampler-kwargs itself." if name == "sampling_seed" else "")
                raise SettingsError(
                    f"Keyword '{name}' is given twice with different values, as '{spelling[name]}' and "
                    f"'{key}'. Give it once.{hint}"
                )
            translated[name], spelling[name] = value, key
        return translated

    def _translate_kwargs(self, kwargs):
        translated = self._translate_aliases(kwargs)
        kwargs.clear()
        kwargs.update(translated)
        return super()._translate_kwargs(kwargs)

    def _verify_kwargs_against_default_kwargs(self):
        # bilby only warns about unknown keywords; a typo here would silently change an analysis.
        self.settings = DingoSettings.from_kwargs(self.kwargs, ignored=self.npool_equiv_kwargs)
        # Keep the coerced values, so that logs and result files show what the run used.
        self._kwargs.update({name: getattr(self.settings, name) for name in DingoSettings.keywords()})

    def _log_summary_for_sampler(self):
        # bilby logs the keywords inside Sampler.__init__, before the default model is chosen and the proposal
        # built (it showed 'proposal': 'prior', 'model': None for a run with the default model): log them
        # once both are known, with the proposal that is used.
        if self.proposal is None or self.cached_result is not None:
            return
        logger.info(f"Using sampler {type(self).__name__} with kwargs {self._stored_kwargs()}")
        logger.info(f"Proposal: {self.proposal.describe()}")

    def _stored_kwargs(self):
        """The keywords as a result file stores them: as given, a proposal object as a description, in ASCII."""
        proposal = self.settings.proposal
        if isinstance(proposal, Proposal):
            proposal = f"{type(proposal).__name__}: {proposal.describe()}"
        return ascii_safe({**self.kwargs, "proposal": proposal, "pool": None})

    def _build_proposal(self, proposal):
        if isinstance(proposal, str) and proposal.lower() == "prior":
            proposal = PriorProposal(self.priors, self.search_parameter_keys)
        elif isinstance(proposal, str) and proposal.lower() == "network":
            from .proposals.factory import network_proposal

            proposal = network_proposal(
                self.settings.model, self.likelihood, self.priors, self.search_parameter_keys,
                device=self.settings.device, allow_waveform_mismatch=self.settings.allow_waveform_mismatch,
                seed=self.seed, gnpe_iterations=self.settings.gnpe_iterations,
                gnpe_chains=self.settings.gnpe_chains, gnpe_guide_draws=self.settings.gnpe_guide_draws,
            )
        elif not isinstance(proposal, Proposal):
            raise ProposalError(
                f"proposal={proposal!r} is not understood: give 'network' (with model=PATH), 'prior', or an "
                f"instance of bilby_dingo.proposals.Proposal (e.g. MultivariateStudentTProposal)."
            )
        proposal.check_covers(self.search_parameter_keys)
        return proposal

    # --- files -------------------------------------------------------------------------------------

    def _initialise_result(self, result_class):
        result = super()._initialise_result(result_class)
        result.__class__ = hdf5_by_default(type(result))
        return result

    @property
    def checkpoint_path(self):
        return os.path.join(self.outdir, f"dingo_{self.label}", f"{self.label}_checkpoint.npz")

    @property
    def refinement_state_path(self):
        return os.path.join(self.outdir, f"dingo_{self.label}", f"{self.label}_refinement.npz")

    def _fingerprint(self, proposal):
        """Named hashes of everything that changes the answer, with ``proposal`` as the proposal."""
        return analysis_fingerprint(self.likelihood, self.priors, self.search_parameter_keys, proposal, self.settings)

    def _sampling_seed(self):
        """A resumed run keeps the seed of its files; a new one takes sampling_seed, or draws one."""
        if self.settings.resume:
            for path in (self.refinement_state_path, self.checkpoint_path):
                seed = stored_seed(path)
                if seed is not None:
                    if self.settings.sampling_seed not in (None, seed):
                        logger.info(f"Resuming keeps the sampling_seed={seed} of {path}")
                    return seed
        if self.settings.sampling_seed is not None:
            return self.settings.sampling_seed
        return int(np.random.SeedSequence().entropy % (2**31))

    def _check_resumable(self):
        """Refuse, before any work, a checkpoint that this run's refine setting cannot continue."""
        if not self.settings.resume:
            for path in [self.checkpoint_path] + state_files(self.refinement_state_path):
                if os.path.exists(path):
                    os.remove(path)
            return
        has_checkpoint = os.path.exists(self.checkpoint_path)
        has_refinement = os.path.exists(self.refinement_state_path)
        if self.settings.refine and has_checkpoint and not has_refinement:
            raise CheckpointError(
                f"The checkpoint {self.checkpoint_path} was written with refine=False (there is no refinement state "
                f"beside it). Pass refine=False to resume it, or resume=False (or another label) to start afresh.")
        if not self.settings.refine and has_refinement:
            raise CheckpointError(
                f"{self.refinement_state_path} holds a refined run; pass refine=True to resume it, or resume=False "
                f"(or another label) to start afresh.")

    def _load_or_create_store(self, proposal, seed, first_store=None):
        path, fingerprint = self.checkpoint_path, self._fingerprint(proposal)
        if self.settings.resume and os.path.exists(path):
            store = DrawStore.load(path)
            differing = differing_components(store.fingerprint, fingerprint)
            if differing:
                raise CheckpointError(
                    f"The checkpoint {path} belongs to another analysis (differing: {', '.join(differing)}). "
                    f"Resuming needs the same priors, likelihood data and settings, proposal and batch_size. "
                    f"To start afresh, pass resume=False (the checkpoint is overwritten), "
                    f"use another label or outdir, or delete {path}."
                )
            if self.settings.target_n_eff is None and store.num_draws > self.settings.num_samples:
                raise CheckpointError(
                    f"The checkpoint {path} holds {store.num_draws} draws, more than num_samples="
                    f"{self.settings.num_samples}. Pass num_samples >= {store.num_draws} to resume it, or "
                    f"resume=False to start afresh with {self.settings.num_samples} draws."
                )
            logger.info(f"Resuming from {path}: {store.num_draws} draws, {store.num_evaluated} evaluated")
            return store
        if first_store is not None:
            # Round 0 of refinement met the efficiency target: its draws are the final run's first batch.
            first_store.fingerprint = fingerprint
            return first_store
        return DrawStore(self.search_parameter_keys, fingerprint, seed, auxiliary_keys=list(proposal.auxiliary_keys))

    def write_current_state(self):
        """Save the draws evaluated so far (bilby calls this on SIGTERM/SIGINT before exiting)."""
        if self._run is not None:
            self._run.write_checkpoint()
            logger.info(f"Wrote checkpoint {self.checkpoint_path}")

    # --- the run -----------------------------------------------------------------------------------

    @signal_wrapper
    def run_sampler(self):
        self._check_resumable()
        seed = self.seed
        self.kwargs["sampling_seed"] = seed
        # One seed drives everything: the proposal, the rejection step, and bilby's own generator
        # (constraint normalisation, later the conversion function).
        proposal_seed, rejection_seed = np.random.SeedSequence(seed).spawn(2)
        bilby_random.seed(seed)
        rng = np.random.default_rng(proposal_seed)
        proposal, first_store, refinement = self.proposal, None, None
        self._setup_pool()
        try:
            evaluator = LikelihoodEvaluator(self.pool, self.npool)
            refiner = None
            if self.settings.refine:
                refiner = ProposalRefinement(
                    self.proposal, self.priors, self.search_parameter_keys, evaluator, self.settings, seed, rng,
                    state_path=self.refinement_state_path, fingerprint=self._fingerprint(self.proposal),
                    sky_frame=sky_frame_for(self.likelihood, self.priors, self.search_parameter_keys))
            while True:
                abandon = None
                if refiner is not None:
                    refinement = refiner.run(resume=self.settings.resume)
                    proposal, first_store = refinement.proposal, refinement.first_store
                    if first_store is None:
                        # Final draws from a stream of their own (one per frozen proposal): independent of the
                        # draws the proposal was fitted to.
                        attempt = refinement.num_validation_rounds
                        rng = np.random.default_rng(np.random.SeedSequence(
                            seed, spawn_key=(2,) + ((attempt,) if attempt else ())))
                        abandon = functools.partial(refiner.undercovers, refinement)
                store = self._load_or_create_store(proposal, seed, first_store)
                self._run = ImportanceSamplingRun(
                    proposal=proposal,
                    priors=self.priors,
                    parameter_keys=self.search_parameter_keys,
                    evaluate_log_likelihood=evaluator,
                    settings=self.settings,
                    rng=rng,
                    store=store,
                    checkpoint_path=self.checkpoint_path,
                    abandon=abandon,
                )
                store = self._run.run()
                if not self._run.abandoned:
                    break
                # The frozen proposal missed posterior mass its fresh draws found: they become a refinement
                # round and refinement goes on. No final run is in progress until the next one starts (a signal
                # meanwhile must not write these draws back as a checkpoint). The checkpoint goes first:
                # interrupted in between, a resumed run redraws the same final draws (same seed) and takes the
                # same decision.
                self._run = None
                if os.path.exists(self.checkpoint_path):
                    os.remove(self.checkpoint_path)
                refiner.add_validation_round(store, refinement.frozen_rounds)
        finally:
            self._close_pool()
        self._fill_result(store, proposal, refinement, np.random.default_rng(rejection_seed))
        return self.result

    def _fill_result(self, store, proposal, refinement, rejection_rng):
        keys = self.search_parameter_keys
        log_w = store.evaluated_log_weights()
        summary, weight_entries = weight_meta_data(log_w, self.settings.efficiency_warning)
        if self.settings.posterior_size is None:
            kept = rejection_sample(log_w, rejection_rng)
            unweighting = "rejection sampling: distinct draws kept with probability w / max w"
        else:
            kept = resample(log_w, self.settings.posterior_size, rejection_rng)
            unweighting = (f"{self.settings.posterior_size} draws resampled with replacement (systematic resampling) "
                           f"with probability w / sum w (a draw repeats when posterior_size x w / sum w > 1)")

        result = self.result
        if not self.settings.keep_checkpoint:
            # Removed once bilby has written the result file (hdf5_by_default), never before.
            result._dingo_remove_after_save = [self.checkpoint_path] + state_files(self.refinement_state_path)
        # The keywords as given ("prior", or "network" with the model's path), so that the run can be repeated
        # from them; a proposal object or a pool cannot be written. The proposal used is in meta_data["dingo"].
        result.sampler_kwargs = self._stored_kwargs()
        result.samples = store.theta[kept]
        result.log_likelihood_evaluations = store.log_likelihood[kept]
        result.log_prior_evaluations = store.log_prior[kept]
        nested = pd.DataFrame(store.theta, columns=keys)
        nested["weights"] = normalised_weights(log_w)
        nested["log_weights"] = log_w
        nested["log_likelihood"] = store.log_likelihood
        nested["log_prior"] = store.log_prior
        nested["log_prob"] = store.log_proposal
        if store.auxiliary_keys:
            # Extended-space proposals (GNPE): their auxiliary draws and target term, so that the
            # weights can be recomputed from the file: log w = log L + log π + log_auxiliary_target − log q.
            for i, key in enumerate(store.auxiliary_keys):
                nested[key] = store.auxiliary[:, i]
            nested["log_auxiliary_target"] = store.log_auxiliary
        result.nested_samples = nested
        result.log_evidence = summary.log_evidence
        result.log_evidence_err = summary.log_evidence_std
        # Calls made while setting up (GNPE's guided chain start, refinement rounds) count too.
        setup_calls = int(proposal.setup_likelihood_evaluations)
        refinement_calls = 0 if refinement is None else refinement.num_likelihood_evaluations
        result.num_likelihood_evaluations = store.num_likelihood_evaluations + setup_calls + refinement_calls

        if weight_entries["efficiency_warning"]:
            logger.warning(weight_entries["efficiency_warning"])
        scope_warning = self._scope_warning(store, log_w)
        if scope_warning:
            logger.warning(scope_warning)
        if result.meta_data is None:
            result.meta_data = dict()
        # ASCII: pesummary writes these strings as ASCII (a user's proposal may describe itself with σ or ±).
        result.meta_data["dingo"] = ascii_safe(dict(
            version=__version__,
            proposal=proposal.describe(),
            sampling_seed=int(store.seed),
            **weight_entries,
            num_batches=int(store.num_batches),
            num_outside_prior=int(np.count_nonzero(~np.isfinite(store.log_prior))),
            num_nonfinite_likelihood=store.num_nonfinite_likelihood,
            num_posterior_samples=int(len(kept)),
            unweighting=unweighting,
            proposal_time=float(store.proposal_time),
            likelihood_time=float(store.likelihood_time),
            npool=int(self.npool or 1),
            proposal_setup_likelihood_evaluations=setup_calls,
            refinement_likelihood_evaluations=refinement_calls,
            refinement=dict(enabled=False) if refinement is None else dict(enabled=True, **refinement.as_dict()),
            analysis_fingerprint=self._fingerprint(self.proposal),
            scope_warning=scope_warning,
        ))
        logger.info(
            f"dingo: efficiency {100 * summary.sample_efficiency:.2f}%, n_eff {summary.n_eff:.1f} of "
            f"{summary.num_draws} draws, log Z {summary.log_evidence:.3f} ± {summary.log_evidence_std:.3f}, "
            f"{len(kept)} posterior samples, {result.num_likelihood_evaluations} likelihood calls "
            f"({refinement_calls} in refinement, {setup_calls} in proposal set-up)"
        )
        if self.plot or self.settings.diagnostic_plots:
            self._plot_diagnostics(store, log_w, summary, kept)
            if refinement is not None and len(refinement.rounds) > 1:
                plot_refinement(result.meta_data["dingo"]["refinement"]["rounds"], summary,
                                os.path.join(self.outdir, f"{self.label}_dingo_refinement.png"))

    def _scope_warning(self, store, log_w):
        """A network proposal's posterior piled up against its model's training bounds (see
        :func:`bilby_dingo.proposals.event_data.posterior_at_training_bounds`); None otherwise."""
        metadata = getattr(self.proposal, "metadata", None)
        finite = np.isfinite(log_w)
        if metadata is None or not finite.any():
            return None
        samples = {key: store.theta[:, i] for i, key in enumerate(self.search_parameter_keys)}
        weights = np.where(finite, np.exp(log_w - np.max(log_w[finite])), 0.0)
        return posterior_at_training_bounds(metadata, self.priors, samples, weights)

    def _plot_diagnostics(self, store, log_w, summary, kept):
        os.makedirs(self.outdir, exist_ok=True)
        prefix = os.path.join(self.outdir, f"{self.label}_dingo")
        plot_weights(store.log_likelihood, store.log_prior, store.log_proposal, summary, f"{prefix}_weights.png")
        plot_weight_distribution(log_w, summary, f"{prefix}_weight_distribution.png")
        plot_log_probabilities(store.log_likelihood, store.log_prior, store.log_proposal, summary,
                               f"{prefix}_log_probabilities.png")
        injection = self.injection_parameters or {}
        truths = [injection.get(key) for key in self.search_parameter_keys]
        try:
            plot_posterior_corner(store.theta[kept], self.search_parameter_keys,
                                  truths if any(t is not None for t in truths) else None, summary,
                                  f"{prefix}_corner.png")
        except Exception as error:  # a corner plot must never cost the result
            logger.warning(f"Could not make the corner plot: {error}")


# The keyword section comes from the keyword table, so docstring, parser and README never disagree.
Dingo.__doc__ += "\n" + textwrap.indent(keyword_docstring(), "    ") + "\n"
