"""The ``dingo`` bilby sampler: proposal draws → importance weights → a standard ``bilby.Result``.

Registered through the ``bilby.samplers`` entry point, so ``bilby.run_sampler(..., sampler="dingo")``
and ``sampler = dingo`` in a bilby_pipe ini file select it.
"""

import dataclasses
import inspect
import json
import logging
import os

import numpy as np
import pandas as pd
from bilby.core.sampler.base_sampler import Sampler, signal_wrapper
from bilby.core.utils import random as bilby_random
from scipy.special import logsumexp

from . import __version__
from .importance_sampling.diagnostics import (
    plot_log_probabilities,
    plot_posterior_corner,
    plot_weight_distribution,
    plot_weights,
)
from .importance_sampling.draws import CheckpointError, DrawStore
from .importance_sampling.driver import ImportanceSamplingRun
from .importance_sampling.likelihood import LikelihoodEvaluator
from .importance_sampling.statistics import efficiency_warning_message, rejection_sample, summarize
from .proposals import PriorProposal, Proposal, ProposalError
from .proposals.event_data import ModelScopeError, posterior_at_training_bounds
from .settings import KEYWORD_ALIASES, DingoSettings, _none_if_null

logger = logging.getLogger(f"bilby.{__name__}")  # shows in bilby's log, with its format

# Arguments bilby's Sampler takes by name; everything else is a dingo keyword.
_BILBY_SAMPLER_ARGUMENTS = set(inspect.signature(Sampler.__init__).parameters) - {"self", "kwargs"}


class Dingo(Sampler):
    """Importance sampling of bilby's likelihood and prior with a proposal distribution q(θ).

    Draws θ_i ~ q, weighs them by w_i = L(θ_i) π(θ_i) / q(θ_i) and returns the evidence
    log Z = log(Σ w_i / N) with its standard error, the sample efficiency n_eff / N, an unweighted
    posterior by rejection sampling (``result.samples``) and every weighted draw
    (``result.nested_samples``). Draws outside the prior get weight zero without a likelihood call.

    Keywords
    --------
    model: str
        A model file from ``bilby_dingo_train``; its network becomes the proposal q(θ | d, S_n).
    proposal: "network" (default with ``model``, and for GW data without one: the default model
        shipped with bilby_dingo), "prior" (default otherwise) or a :class:`bilby_dingo.proposals.Proposal`
    device: "cpu" (default), "cuda" or "auto"; allow_waveform_mismatch: bool, default False
    num_samples: int, default 10000
        Number of proposal draws. Or, instead:
    target_n_eff: int; max_samples: int, default 1e6
        Draw in batches until the effective sample size reaches ``target_n_eff``.
    batch_size: int, default 10000
    npool: int
        Likelihood processes (bilby's pool; any of bilby's pool-size spellings works).
    sampling_seed: int
        Seed of every random choice; the same seed gives the same result for any npool.
    resume: bool, default True; check_point_delta_t: float, default 600 s
    efficiency_warning: float, default 0.01
        Sample efficiency below which the result is flagged as unreliable.
    diagnostic_plots: bool, default True
        Weights, weight distribution, log-probability and corner plots in outdir (also with plot=True).
    gnpe_iterations: int, default 30; gnpe_chains: int, default 5000; gnpe_guide_draws: int, default 2000
        GNPE models only: Gibbs iterations and parallel chains (see bilby_dingo.proposals.gnpe).
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
        proposal_given = _none_if_null(dingo_keywords.get("proposal")) is not None
        self._run = None
        super().__init__(likelihood, priors, **kwargs)
        uses_default_model = given.model is None and not proposal_given and self._use_the_default_model_for_gw_data(
            likelihood)
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

    def _use_the_default_model_for_gw_data(self, likelihood):
        """No model and no proposal given, GW data, and a default model shipped: use it (returns whether)."""
        from . import models

        if getattr(likelihood, "interferometers", None) is None or not os.path.isfile(models.DEFAULT_MODEL_FILE):
            return False
        logger.info(f"No model given: using the default model {models.DEFAULT_MODEL_FILE}")
        self.settings = dataclasses.replace(self.settings, model=models.DEFAULT_MODEL_FILE, proposal="network")
        self._kwargs.update(model=self.settings.model, proposal="network")
        return True

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
                raise ValueError(
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

    def _build_proposal(self, proposal):
        if isinstance(proposal, str) and proposal.lower() == "prior":
            proposal = PriorProposal(self.priors, self.search_parameter_keys)
        elif isinstance(proposal, str) and proposal.lower() == "network":
            from .proposals.network import network_proposal

            proposal = network_proposal(
                self.settings.model, self.likelihood, self.priors, self.search_parameter_keys,
                device=self.settings.device, allow_waveform_mismatch=self.settings.allow_waveform_mismatch,
                seed=self.settings.sampling_seed or 0, gnpe_iterations=self.settings.gnpe_iterations,
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

    @property
    def checkpoint_path(self):
        return os.path.join(self.outdir, f"dingo_{self.label}", f"{self.label}_checkpoint.npz")

    def _fingerprint(self):
        return json.dumps(dict(parameters=self.search_parameter_keys, proposal=self.proposal.describe()))

    def _load_or_create_store(self):
        path, fingerprint = self.checkpoint_path, self._fingerprint()
        if os.path.exists(path):
            if self.settings.resume:
                store = DrawStore.load(path)
                if store.fingerprint != fingerprint:
                    raise CheckpointError(
                        f"The checkpoint {path} belongs to another analysis (different sampled "
                        f"parameters or proposal). Use another outdir or label, delete it, or pass resume=False."
                    )
                if self.settings.sampling_seed not in (None, store.seed):
                    logger.info(f"Resuming keeps the checkpoint's sampling_seed={store.seed}")
                logger.info(f"Resuming from {path}: {store.num_draws} draws, {store.num_evaluated} evaluated")
                return store
            os.remove(path)
        seed = self.settings.sampling_seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        return DrawStore(self.search_parameter_keys, fingerprint, seed,
                         auxiliary_keys=list(getattr(self.proposal, "auxiliary_keys", [])))

    def write_current_state(self):
        """Save the draws evaluated so far (bilby calls this on SIGTERM/SIGINT before exiting)."""
        if self._run is not None:
            self._run.write_checkpoint()
            logger.info(f"Wrote checkpoint {self.checkpoint_path}")

    # --- the run -----------------------------------------------------------------------------------

    @signal_wrapper
    def run_sampler(self):
        store = self._load_or_create_store()
        self.kwargs["sampling_seed"] = store.seed
        # One seed drives everything: the proposal, the rejection step, and bilby's own generator
        # (constraint normalisation, later the conversion function).
        proposal_seed, rejection_seed = np.random.SeedSequence(store.seed).spawn(2)
        bilby_random.seed(store.seed)
        self._setup_pool()
        try:
            self._run = ImportanceSamplingRun(
                proposal=self.proposal,
                priors=self.priors,
                parameter_keys=self.search_parameter_keys,
                evaluate_log_likelihood=LikelihoodEvaluator(self.pool, self.npool),
                settings=self.settings,
                rng=np.random.default_rng(proposal_seed),
                store=store,
                checkpoint_path=self.checkpoint_path,
            )
            store = self._run.run()
        finally:
            self._close_pool()
        self._fill_result(store, np.random.default_rng(rejection_seed))
        return self.result

    def _fill_result(self, store, rejection_rng):
        keys = self.search_parameter_keys
        log_w = store.evaluated_log_weights()
        summary = summarize(log_w)
        kept = rejection_sample(log_w, rejection_rng)

        result = self.result
        # Result files store the keywords: a proposal object or a pool cannot be written.
        result.sampler_kwargs = {**self.kwargs, "proposal": self.proposal.describe(), "pool": None}
        result.samples = store.theta[kept]
        result.log_likelihood_evaluations = store.log_likelihood[kept]
        result.log_prior_evaluations = store.log_prior[kept]
        nested = pd.DataFrame(store.theta, columns=keys)
        nested["weights"] = np.exp(log_w - logsumexp(log_w))
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
        # Calls the proposal made while setting up (GNPE's guided chain start) count too.
        setup_calls = int(getattr(self.proposal, "setup_likelihood_evaluations", 0))
        result.num_likelihood_evaluations = store.num_likelihood_evaluations + setup_calls

        warning = efficiency_warning_message(summary, self.settings.efficiency_warning)
        if warning:
            logger.warning(warning)
        scope_warning = self._scope_warning(store, log_w)
        if scope_warning:
            logger.warning(scope_warning)
        if result.meta_data is None:
            result.meta_data = dict()
        result.meta_data["dingo"] = dict(
            version=__version__,
            proposal=self.proposal.describe(),
            sampling_seed=int(store.seed),
            num_proposals=int(store.num_draws),
            num_batches=int(store.num_batches),
            n_eff=summary.n_eff,
            sample_efficiency=summary.sample_efficiency,
            log_evidence_std=summary.log_evidence_std,
            num_zero_weight=summary.num_zero_weight,
            num_outside_prior=int(np.count_nonzero(~np.isfinite(store.log_prior))),
            num_nonfinite_likelihood=store.num_nonfinite_likelihood,
            num_posterior_samples=int(len(kept)),
            unweighting="rejection sampling: distinct draws kept with probability w / max w",
            proposal_time=float(store.proposal_time),
            likelihood_time=float(store.likelihood_time),
            npool=int(self.npool or 1),
            proposal_setup_likelihood_evaluations=setup_calls,
            efficiency_warning=warning,
            scope_warning=scope_warning,
        )
        logger.info(
            f"dingo: efficiency {100 * summary.sample_efficiency:.2f}%, n_eff {summary.n_eff:.1f} of "
            f"{summary.num_draws} draws, log Z {summary.log_evidence:.3f} ± {summary.log_evidence_std:.3f}, "
            f"{len(kept)} posterior samples"
        )
        if self.plot or self.settings.diagnostic_plots:
            self._plot_diagnostics(store, log_w, summary, kept)

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
