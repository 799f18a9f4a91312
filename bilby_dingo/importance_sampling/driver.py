"""The importance-sampling loop: draw a batch, evaluate prior and likelihood, decide whether to stop.

Every decision depends only on the stored draws and the seeded generator, so a run that is
interrupted and resumed from its checkpoint produces exactly the draws of an uninterrupted run.
"""

import logging
import time

import numpy as np

from ..errors import ImportanceSamplingError
from ..proposals.base import ProposalDraws, ProposalError, as_float_array
from .statistics import split_n_eff, summarize

logger = logging.getLogger(f"bilby.{__name__}")  # shows in bilby's log, with its format

# Draws per process evaluated between two looks at the clock (periodic checkpoint) and between two
# updates of the stored draws: an interrupt loses at most the chunk in flight.
EVALUATION_CHUNK = 1024


class ImportanceSamplingRun:
    """Draws from a proposal and weighs them with bilby's prior and likelihood.

    Parameters
    ----------
    proposal: bilby_dingo.proposals.Proposal
    priors: bilby.core.prior.PriorDict
    parameter_keys: list of str
        bilby's search parameter keys, the columns of ``theta``.
    evaluate_log_likelihood: callable
        Maps θ of shape (n, D) to log L of shape (n,).
    settings: bilby_dingo.settings.DingoSettings
    rng: numpy.random.Generator
        Drives the proposal; its state is checkpointed with the draws.
    store: bilby_dingo.importance_sampling.draws.DrawStore
        Empty for a new run, or loaded from a checkpoint to resume one.
    checkpoint_path: str or None
    abandon: callable or None
        Called with the store after each batch (from the second on) while ``target_n_eff`` is not met; True
        stops the run early with ``abandoned`` set (refinement takes its draws back as a round).
    """

    def __init__(self, proposal, priors, parameter_keys, evaluate_log_likelihood, settings, rng,
                 store, checkpoint_path=None, abandon=None):
        self.proposal = proposal
        self.priors = priors
        self.parameter_keys = list(parameter_keys)
        self.evaluate_log_likelihood = evaluate_log_likelihood
        self.settings = settings
        self.checkpoint_path = checkpoint_path
        self.rng = rng
        self.store = store
        self.abandon = abandon
        self.abandoned = False
        if store.rng_state is not None:
            # Resuming: continue the generator exactly where the checkpointed batch left it.
            self.rng.bit_generator.state = store.rng_state
        self._last_checkpoint = time.monotonic()

    def write_checkpoint(self):
        if self.checkpoint_path:
            self.store.save(self.checkpoint_path)
            self._last_checkpoint = time.monotonic()
            logger.debug(f"Checkpoint written to {self.checkpoint_path}")

    # --- the loop ----------------------------------------------------------------------------------

    def run(self):
        """Sample until the stopping rule is met; return the :class:`DrawStore`."""
        while True:
            if not self.store.complete:
                self._evaluate_pending()
                self._log_progress()
                self.write_checkpoint()
                continue
            size = self._next_batch_size()
            if size == 0:
                break
            self._draw_batch(size)
        summary = summarize(self.store.evaluated_log_weights())
        if summary.n_eff == 0 and not self.abandoned:
            raise ImportanceSamplingError(
                f"All {summary.num_draws} importance weights are zero "
                f"({self.store.num_draws - self.store.num_likelihood_evaluations} draws outside the prior, "
                f"{self.store.num_nonfinite_likelihood} with a non-finite likelihood). Likely causes: the "
                f"proposal and the prior have disjoint supports, or the likelihood cannot be evaluated "
                f"(wrong data, wrong waveform settings). Check the prior ranges against the proposal."
            )
        return self.store

    def _next_batch_size(self):
        """Draws in the next batch; 0 stops the run."""
        settings, drawn = self.settings, self.store.num_draws
        if settings.target_n_eff is None:
            return min(settings.batch_size, settings.num_samples - drawn)
        if drawn >= settings.max_samples:
            n_eff = summarize(self.store.evaluated_log_weights()).n_eff
            logger.warning(
                f"Reached max_samples={settings.max_samples} with n_eff={n_eff:.0f}, short of "
                f"target_n_eff={settings.target_n_eff}. Raise max_samples, or improve the proposal."
            )
            return 0
        # Early batches overestimate n_eff (they miss the rare large weights): never stop on the
        # first batch, and require each half of the draws to hold half of the target, which fails
        # while a large weight has only just appeared.
        if self.store.num_batches >= 2:
            log_w = self.store.evaluated_log_weights()
            target = settings.target_n_eff
            if summarize(log_w).n_eff >= target and min(split_n_eff(log_w)) >= target / 2:
                return 0
            if self.abandon is not None and self.abandon(self.store):
                self.abandoned = True
                return 0
        return min(settings.batch_size, settings.max_samples - drawn)

    def _draw_batch(self, size):
        start = time.perf_counter()
        drawn = self.proposal.sample(size, self.rng)
        if not isinstance(drawn, ProposalDraws):
            raise ProposalError(f"The proposal ({self.proposal.describe()}) returned {type(drawn).__name__} from "
                                f"sample(); it must return a bilby_dingo.proposals.ProposalDraws.")
        missing = [key for key in self.parameter_keys if key not in drawn.samples]
        if missing:
            raise ProposalError(
                f"The proposal ({self.proposal.describe()}) returned no draws of {missing}; "
                f"the analysis samples {self.parameter_keys}."
            )
        theta = np.column_stack([as_float_array(drawn.samples[key], size, key) for key in self.parameter_keys])
        log_proposal = as_float_array(drawn.log_prob, size, "log_prob")
        self._check_finite(theta, ~np.isfinite(theta).all(axis=1), "parameter values")
        self.store.proposal_time += time.perf_counter() - start
        log_prior = np.asarray(
            self.priors.ln_prob({key: theta[:, i] for i, key in enumerate(self.parameter_keys)}, axis=0),
            dtype=float,
        ).reshape(size)
        # Inside the prior a non-finite log q would silently zero a weight that counts; outside it the weight
        # is 0 whatever q is (a network's density can overflow far beyond the bounds it was trained in:
        # measured once in 10,000 draws of the default model, at theta_jn 4.35, dec -1.63).
        inside = np.isfinite(log_prior)
        self._check_finite(theta, ~np.isfinite(log_proposal) & inside, "log q inside the prior")
        log_proposal = np.where(inside | np.isfinite(log_proposal), log_proposal, -np.inf)
        log_auxiliary = drawn.log_auxiliary_target
        if log_auxiliary is not None:
            log_auxiliary = as_float_array(log_auxiliary, size, "log_auxiliary_target")
        auxiliary = None
        if self.store.auxiliary_keys:
            auxiliary = np.column_stack([as_float_array(drawn.auxiliary[key], size, key)
                                         for key in self.store.auxiliary_keys])
        self.store.add_batch(theta, log_proposal, log_prior, self.rng.bit_generator.state, log_auxiliary, auxiliary)

    def _check_finite(self, theta, bad, what):
        """A proposal emitting NaN/inf is broken: such draws would silently get weight 0 and bias log Z."""
        if np.any(bad):
            first = {key: float(theta[np.argmax(bad), i]) for i, key in enumerate(self.parameter_keys)}
            raise ProposalError(
                f"The proposal ({self.proposal.describe()}) returned non-finite {what} for "
                f"{np.count_nonzero(bad)} of {len(bad)} draws (first at {first}). A proposal must draw finite "
                f"parameters and have a finite density wherever it draws."
            )

    def _evaluate_pending(self):
        store = self.store
        while not store.complete:
            first = store.num_evaluated
            last = min(first + EVALUATION_CHUNK * getattr(self.evaluate_log_likelihood, "npool", 1), store.num_draws)
            inside = first + np.flatnonzero(store.needs_likelihood(first, last))
            start = time.perf_counter()
            store.log_likelihood[inside] = self.evaluate_log_likelihood(store.theta[inside])
            store.likelihood_time += time.perf_counter() - start
            store.num_evaluated = last
            if time.monotonic() - self._last_checkpoint > self.settings.check_point_delta_t:
                self.write_checkpoint()

    def _log_progress(self):
        summary = summarize(self.store.evaluated_log_weights())
        logger.info(
            f"batch {self.store.num_batches}: {summary.num_draws} draws, n_eff={summary.n_eff:.1f}, "
            f"efficiency={100 * summary.sample_efficiency:.2f}%, "
            f"log Z={summary.log_evidence:.3f} ± {summary.log_evidence_std:.3f}"
        )
