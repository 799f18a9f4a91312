r"""Adaptive refinement: turn a broad, mass-covering proposal q₀ into a sharp one before the final run.

Round 0 draws from q₀ and weighs the draws as usual. If their sample efficiency already reaches
``refine_target_efficiency``, nothing is refined and those draws begin the final run. Otherwise each
round r ≥ 1

1. tempers the previous round's weights, w^β, with β ∈ (0, 1] the largest value for which the tempered
   weights keep an effective sample size of a tenth of a round's draws (bisection): the fit then targets
   Q^{1−β} (L π)^β, a step from the proposals so far towards the posterior that the draws can resolve.
   The draws of **all** rounds so far are pooled, each weighed against the mixture of all rounds'
   proposals Σ_j (N_j / N) Q_j (the balance heuristic: every round's draw is a draw of that mixture),
   so that a region found by one round is not forgotten by the next;
2. fits a density to those tempered draws in an unbounded space (a spline flow or a Student-t mixture,
   :class:`bilby_dingo.proposals.fitted.FittedDensity`; with a sky frame, in detector-baseline coordinates);
3. draws ``refine_draws`` **fresh** points from the defensive mixture Q_r = α q₀ + (1 − α) q_fit
   (:class:`bilby_dingo.proposals.mixture.DefensiveMixtureProposal`) and weighs them with Q_r's exact
   density against the true target.

Every round's proposal Q_j is judged by its efficiency **estimated from the draws of all rounds**
(:meth:`ProposalRefinement._estimate`), which predicts what its fresh draws give far better than its own
round's efficiency. Refinement stops once an estimate passes 50%; or at β = 1 when two rounds in a row fail
to improve the best estimate before them by 10%, or when, at the gain per round of the last two, a further
round is expected to cost more likelihood calls than it saves in final draws for ``target_n_eff``; or after
``refine_max_rounds`` rounds. The frozen proposal is the round's proposal with the best estimate, or the
equal mixture of the best two to four, whose fits' misses partly cancel, if that is estimated better
(:meth:`ProposalRefinement.choose_frozen`). A share ``refine_tempered_share`` of its fitted part comes from
a fit to the tempered posterior (Lπ)^½ (:meth:`ProposalRefinement._tempered_fit`): it covers the far ends
of curved correlations that the rounds' fits miss, where the base share alone would give rare, very large
weights. **The reported result comes only from fresh draws of that frozen proposal**: refinement draws are
set-up, never reweighted under a density fitted to them (that would bias log Z). Their likelihood calls are
counted and reported per round.

Fresh draws can still find posterior mass that no round drew (measured: a cycle-slip mode 7 ms from the main
one, a few per cent of the posterior, that neither the network nor any fit covered). When the final draws'
efficiency falls below a fifth of the frozen proposal's estimate after two batches, they are handed back as a
*validation round* (:meth:`ProposalRefinement.add_validation_round`): pooled like any round, with the frozen
mixture's density, so that the next fits see what they found; refinement goes on and a new frozen proposal
draws a new final sample from a stream of its own (at most ``MAX_VALIDATION_ROUNDS`` times a run). Its calls
count as set-up.

State is written after every round (the fitted densities as plain arrays, each round's draws as a
:class:`DrawStore` file, no pickle), and every round's randomness comes from (seed, round), so that a run
resumed from the last completed round equals an uninterrupted one.
"""

import dataclasses
import functools
import json
import logging
import os
import time

import numpy as np
from scipy.special import logsumexp

from ..proposals.base import evaluates_density
from ..proposals.fitted import DensityEnsemble, FittedDensity, arrays_under_prefix
from ..proposals.mixture import BASE_LOG_PROB, DefensiveMixtureProposal
from ..utils import atomic_path
from .draws import CheckpointError, DrawStore
from .driver import ImportanceSamplingRun
from .fingerprint import differing_components
from .statistics import log_weights, summarize

logger = logging.getLogger(f"bilby.{__name__}")

REFINEMENT_FORMAT_VERSION = 2  # 2: the frozen proposals' tempered fits are part of the state
TEMPERED_ESS_FRACTION = 0.1  # the tempered weights keep an ESS of this fraction of a round's draws
MIN_IMPROVEMENT = 1.1  # at β = 1, a round must raise the best efficiency by 10% for refinement to go on
ENOUGH_EFFICIENCY = 0.5  # above this, a further round costs more draws than it can save
WARM_START = True  # a flow's training starts from the previous round's flow
MAX_ENSEMBLE = 4  # the frozen proposal may average up to this many rounds' fits (choose_frozen)
UNDERCOVER_FACTOR = 5  # final draws this many times less efficient than estimated go back to refinement
MAX_VALIDATION_ROUNDS = 2  # ... at most this many times per run
TEMPERED_POSTERIOR_BETA = 0.5  # the frozen proposal's tempered share is fitted to (Lπ)^β
TRUNCATE_FIT_WEIGHTS = False  # True: fits see weights truncated at √N times their mean (fit_weights; measured: no clear gain)


def tempering_exponent(log_w, target_ess):
    """The largest β ∈ (0, 1] whose tempered weights w^β keep an effective sample size ≥ ``target_ess``."""
    log_w = np.asarray(log_w, dtype=float)
    log_w = log_w[np.isfinite(log_w)]
    if log_w.size == 0:
        raise ValueError("No non-zero weight to temper.")
    target = min(target_ess, log_w.size)

    def ess(beta):
        return summarize(beta * log_w).n_eff

    if ess(1.0) >= target:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if ess(middle) >= target else (low, middle)
    return max(low, 1e-12)


def fit_weights(log_w):
    """Weights for fitting a density to draws with log weights ``log_w``: truncated at √N times their mean.

    A few draws with the largest weights would otherwise pull a fit's components onto single points
    (truncated importance sampling, Ionides 2008). The truncation only shapes the next proposal; the draws of
    that proposal are weighed exactly.
    """
    weights = np.exp(log_w - np.max(log_w))
    if not TRUNCATE_FIT_WEIGHTS:
        return weights
    return np.minimum(weights, np.sqrt(weights.size) * weights.mean())


@dataclasses.dataclass
class RefinementRound:
    """What one round did (stored in ``result.meta_data["dingo"]["refinement"]["rounds"]``)."""

    round: int
    beta: float  # tempering of the previous round's weights for this round's fit (None for round 0)
    num_draws: int
    num_likelihood_evaluations: int
    sample_efficiency: float
    n_eff: float
    log_evidence: float
    log_evidence_std: float
    num_components: int  # of the fitted mixture (0 for round 0: the base proposal)
    fit_time: float
    wall_time: float


@dataclasses.dataclass
class PooledDraws:
    """The draws of all rounds: θ (N, D), log Lπ (with the auxiliary density; −inf where the weight is 0),
    log Q_j at every draw for each round's proposal (J, N), and each round's number of draws (J,)."""

    theta: np.ndarray
    log_target: np.ndarray
    log_components: np.ndarray
    counts: np.ndarray
    log_auxiliary: np.ndarray  # log ρ(a | θ) of the base's extended space at each draw (0 without auxiliaries)

    @functools.cached_property
    def log_pooled(self):
        """log Σ_j (N_j / N) Q_j: every round's draw is a draw of this mixture (the balance heuristic)."""
        return logsumexp(np.log(self.counts / self.counts.sum())[:, None] + self.log_components, axis=0)

    @property
    def log_weights(self):
        return self.log_target - self.log_pooled


@dataclasses.dataclass
class RefinementOutcome:
    """The frozen proposal, and the round-0 draws when they begin the final run (no round ran)."""

    proposal: object
    first_store: DrawStore
    rounds: list
    frozen_rounds: list  # the rounds whose proposals the frozen one averages ([0]: the base proposal)
    pooled_efficiencies: list = None  # each round's proposal's efficiency estimated from all rounds' draws
    densities: list = None  # the fitted density of each round ≥ 1 (FittedDensity; None for a validation round)
    frozen_estimate: float = None  # the frozen proposal's efficiency estimated from all rounds' draws
    num_validation_rounds: int = 0  # final draws handed back to refinement (ProposalRefinement.add_validation_round)
    tempered_share: float = 0.0  # of the frozen proposal's fitted part, drawn from the tempered fit (0: none)

    @property
    def num_likelihood_evaluations(self):
        """Calls spent on set-up: every round, except round 0 when its draws continue as the final run."""
        spent = sum(record.num_likelihood_evaluations for record in self.rounds)
        if self.first_store is not None:
            spent -= self.rounds[0].num_likelihood_evaluations
        return spent

    def as_dict(self):
        """Columns per round (one list per field; β of round 0 is NaN): what hdf5 and json result files hold."""
        rounds = {field.name: [getattr(record, field.name) for record in self.rounds]
                  for field in dataclasses.fields(RefinementRound)}
        rounds["beta"] = [float("nan") if beta is None else beta for beta in rounds["beta"]]
        if self.pooled_efficiencies is not None:
            rounds["pooled_efficiency"] = [float(value) for value in self.pooled_efficiencies]
        extra = {} if self.frozen_estimate is None else dict(frozen_pooled_efficiency=float(self.frozen_estimate))
        return dict(rounds=rounds, frozen_rounds=[int(number) for number in self.frozen_rounds], **extra,
                    validation_rounds=int(self.num_validation_rounds), tempered_share=float(self.tempered_share),
                    likelihood_evaluations=self.num_likelihood_evaluations,
                    round_zero_draws_reused=self.first_store is not None)


class ProposalRefinement:
    """Runs the refinement rounds for one analysis.

    Parameters
    ----------
    base: bilby_dingo.proposals.Proposal
        q₀, covering the posterior.
    priors, parameter_keys, evaluate_log_likelihood:
        As for :class:`ImportanceSamplingRun`.
    settings: bilby_dingo.settings.DingoSettings
        ``refine_*`` keywords, and ``num_samples`` (round 0 never draws more than a fixed-size run).
    seed: int
        The run's sampling seed; every round's randomness derives from (seed, round).
    round_zero_rng: numpy.random.Generator
        The generator of the final run: round 0 draws with it so that, when no round follows, its draws
        are exactly the final run's first batch.
    state_path: str or None
        Where the refinement state is written after every round (None: not written).
    fingerprint: str
        The analysis; a state file of another analysis is refused.
    sky_frame: bilby_dingo.proposals.sky_frame.SkyFrame or None
        When given, densities are fitted to the sky position and time in this detector-baseline frame.
    """

    def __init__(self, base, priors, parameter_keys, evaluate_log_likelihood, settings, seed, round_zero_rng,
                 state_path=None, fingerprint="", sky_frame=None):
        self.base = base
        self.priors = priors
        self.parameter_keys = list(parameter_keys)
        self.evaluate_log_likelihood = evaluate_log_likelihood
        self.settings = settings
        self.seed = int(seed)
        self.round_zero_rng = round_zero_rng
        self.state_path = state_path
        self.fingerprint = fingerprint
        self.sky_frame = sky_frame
        self.density_family = (getattr(base, "refinement_density", "student-t")
                                if settings.refine_density == "auto" else settings.refine_density)
        self._fit_log_prob = {}  # (fit, round, fit digest) → the fit's log density at that round's draws
        self._state = None  # (rounds, densities, stores) once run() has started
        # Validation rounds (final draws handed back, add_validation_round): round number → the rounds whose
        # proposals' equal mixture drew them. They have no fit of their own (None in densities).
        self._validation_members = {}
        # The tempered fits of frozen proposals (_tempered_fit), by the number of rounds they were frozen after.
        self._tempered = {}

    # --- the rounds --------------------------------------------------------------------------------

    def run(self, resume=True):
        """Refine until the stopping rule holds; return the :class:`RefinementOutcome`.

        Continues from the rounds held in memory (after :meth:`add_validation_round`), else from the state
        files when ``resume``, else from scratch.
        """
        if self._state is not None:
            rounds, densities, stores = self._state
        else:
            rounds, densities, stores = self._load_state() if resume else ([], [], [])
        self._state = (rounds, densities, stores)
        if not rounds:
            stores.append(self._round_zero())
            rounds.append(self._record(0, None, stores[0], 0, 0.0, 0.0))
            self._save_state(rounds, densities, stores)
            logger.info(f"Refinement round 0 (base proposal): efficiency {100 * rounds[0].sample_efficiency:.3f}%")
        if len(rounds) == 1 and (rounds[0].sample_efficiency >= self.settings.refine_target_efficiency
                                 or not self._can_refine()):
            return RefinementOutcome(self.base, stores[0], rounds, [0])
        while True:
            pool = self._pooled(stores, densities)
            estimates = self._estimates(pool)
            if self._finished(rounds, estimates):
                break
            number = len(rounds)
            start = time.perf_counter()
            log_w = pool.log_weights
            beta = tempering_exponent(log_w, TEMPERED_ESS_FRACTION * self.settings.refine_draws)
            usable = np.isfinite(log_w)
            tempered = fit_weights(beta * log_w[usable])
            density = FittedDensity.fit(self.priors, self.parameter_keys, pool.theta[usable], tempered,
                                        np.random.default_rng([self.seed, 31, number]),
                                        max_components=self.settings.refine_max_components,
                                        sky_frame=self.sky_frame, family=self.density_family,
                                        previous=self._last_fit(densities) if WARM_START else None)
            fit_time = time.perf_counter() - start
            stores.append(self._evaluate(self.mixture(density), self.settings.refine_draws,
                                         np.random.default_rng([self.seed, 37, number])))
            densities.append(density)
            rounds.append(self._record(number, beta, stores[-1], density.num_components, fit_time,
                                       time.perf_counter() - start))
            self._save_state(rounds, densities, stores)
            record = rounds[-1]
            logger.info(f"Refinement round {number}: beta {beta:.3g}, {density.describe()}, "
                        f"efficiency {100 * record.sample_efficiency:.2f}%, n_eff {record.n_eff:.0f} of "
                        f"{record.num_draws}, log Z {record.log_evidence:.3f} ± {record.log_evidence_std:.3f}")
        frozen_rounds, frozen_estimate = self.choose_frozen(pool, estimates)
        tempered = None
        if frozen_rounds != [0] and self.settings.refine_tempered_share > 0:
            tempered = self._tempered_fit(pool, len(rounds))
            log_tempered = self._log_tempered_proposal(tempered, len(rounds), pool.log_components[0],
                                                       pool.log_auxiliary, stores)
            frozen_estimate = self._estimate(pool, frozen_rounds, log_tempered)
        proposal = self.base if frozen_rounds == [0] else self.frozen_proposal(
            [densities[number - 1] for number in frozen_rounds], tempered)
        logger.info(f"Refinement: efficiency of each round's proposal estimated from all rounds' draws "
                    f"{[round(100 * value, 2) for value in estimates]}%; the proposal of round(s) {frozen_rounds}"
                    f"{'' if tempered is None else ' with the tempered share'} frozen "
                    f"({100 * frozen_estimate:.2f}%); the result comes from its fresh draws")
        return RefinementOutcome(proposal, None, rounds, frozen_rounds, list(estimates), densities, frozen_estimate,
                                 num_validation_rounds=len(self._validation_members),
                                 tempered_share=0.0 if tempered is None else self.settings.refine_tempered_share)

    def _tempered_fit(self, pool, number):
        """The fit to the tempered posterior (Lπ)^β, β = ``TEMPERED_POSTERIOR_BETA``, from the pooled draws, for
        the proposal frozen after ``number`` rounds (fitted once, kept in the state).

        Posterior mass that no round drew is covered only by the defensive share α q₀, with weights up to 1/α
        times the base proposal's: rare, large weights that most runs never draw, so that their log Z sits low
        by more than its stated error. Measured on the main example: the ends of its time–mass–spin ridge, 7 ms
        out, are 0.7% of the posterior where the frozen fit's density is 10⁶ times too low and the network's
        10³ times. (Lπ)^½ falls off half as fast along such a ridge, and a fit to it reaches its ends: it cut the
        posterior mass where the frozen proposal's p/Q exceeds 2,000 from 0.69% to 0.11% (docs/validation.md).
        Unlike the rounds' fits its target is not tempered towards the pooled proposals, which under-cover the
        same ends.
        """
        if number in self._tempered:
            return self._tempered[number]
        log_w = TEMPERED_POSTERIOR_BETA * pool.log_target - pool.log_pooled
        usable = np.isfinite(log_w)
        start = time.perf_counter()
        density = FittedDensity.fit(self.priors, self.parameter_keys, pool.theta[usable], fit_weights(log_w[usable]),
                                    np.random.default_rng([self.seed, 41, number]),
                                    max_components=self.settings.refine_max_components, sky_frame=self.sky_frame,
                                    family=self.density_family,
                                    previous=self._last_fit(self._state[1]) if WARM_START else None)
        self._tempered[number] = density
        self._save_state(*self._state, draws=False)
        logger.info(f"Refinement: fitted the tempered posterior (Lπ)^{TEMPERED_POSTERIOR_BETA} ({density.describe()}, "
                    f"ESS {summarize(log_w[usable]).n_eff:.0f} of {usable.sum()} pooled draws) in "
                    f"{time.perf_counter() - start:.1f} s")
        return density

    def frozen_proposal(self, fits, tempered=None):
        """α q₀ + (1 − α)[(1 − s) q_ens + s q_tempered]: q_ens the equal mixture of ``fits``, s the tempered share
        (none without ``tempered``)."""
        density = fits[0] if len(fits) == 1 else DensityEnsemble(fits)
        if tempered is not None:
            share = self.settings.refine_tempered_share
            density = DensityEnsemble([density, tempered], [1 - share, share])
        return self.mixture(density)

    @staticmethod
    def _last_fit(densities):
        return next((density for density in reversed(densities) if density is not None), None)

    def can_continue(self, rounds=None):
        """Whether further rounds may run after ``rounds`` (default: those so far); the round budget counts
        fitted rounds only."""
        rounds = self._state[0] if rounds is None else rounds
        fitted = sum(number not in self._validation_members for number in range(1, len(rounds)))
        return fitted < self.settings.refine_max_rounds

    def undercovers(self, outcome, store):
        """Whether the final draws ``store`` of ``outcome``'s frozen proposal show it misses posterior mass.

        After two batches or more, an efficiency below 1/``UNDERCOVER_FACTOR`` of the frozen proposal's pooled
        estimate means the fresh draws found large weights where no round had drawn (measured on the
        quickstart injection: 0.12% in 20,000 draws against an estimate of 28%, a cycle-slip mode 7 ms from the
        main one). Refinement can then take the draws back as a round (:meth:`add_validation_round`), at
        most ``MAX_VALIDATION_ROUNDS`` times.
        """
        if (outcome.frozen_estimate is None or store.num_batches < 2
                or len(self._validation_members) >= MAX_VALIDATION_ROUNDS or not self.can_continue()):
            return False
        return summarize(store.evaluated_log_weights()).sample_efficiency < outcome.frozen_estimate / UNDERCOVER_FACTOR

    def add_validation_round(self, store, frozen_rounds):
        """The final draws of a frozen proposal that fresh draws showed to under-cover the posterior become a
        round of their own: pooled with the others (their proposal is the equal mixture of ``frozen_rounds``'
        proposals, with the tempered share if it had one), so that the next fits see the posterior mass they found.
        Call :meth:`run` to go on."""
        rounds, densities, stores = self._state
        number = len(rounds)
        store.fingerprint = self.fingerprint
        stores.append(store)
        densities.append(None)
        self._validation_members[number] = [int(member) for member in frozen_rounds]
        rounds.append(self._record(number, None, store, 0, 0.0, 0.0))
        self._save_state(rounds, densities, stores)
        logger.info(f"Refinement goes on: the frozen proposal of round(s) {frozen_rounds} gave efficiency "
                    f"{100 * rounds[-1].sample_efficiency:.3f}% in {store.num_draws} fresh draws; they become round "
                    f"{number}")

    def choose_frozen(self, pool, estimates):
        """The rounds whose proposals, averaged, become the frozen proposal, and its estimated efficiency.

        Candidates: each round's proposal Q_j alone, and the equal mixtures of the 2 … ``MAX_ENSEMBLE`` fitted
        rounds with the best estimates. The averaged mixture (1/K) Σ Q_j is the defensive mixture of q₀ with the
        average of the K fits, whose misses partly cancel. Each candidate is judged by its efficiency
        estimated from the pooled draws of all rounds (:meth:`_estimate`). This choice shapes only the
        proposal: the result comes from its fresh draws.
        """
        fitted = [number for number in range(1, len(estimates)) if number not in self._validation_members]
        best_fits = sorted(fitted, key=lambda number: -estimates[number])
        candidates = [[0]] + [[number] for number in fitted]
        candidates += [sorted(best_fits[:size]) for size in range(2, min(MAX_ENSEMBLE, len(best_fits)) + 1)]
        scores = [estimates[c[0]] if len(c) == 1 else self._estimate(pool, c) for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (scores[i], i))
        return candidates[best], scores[best]

    def _estimates(self, pool):
        """Each round's proposal Q_j's sample efficiency, estimated from the draws of **all** rounds."""
        return [self._estimate(pool, [number]) for number in range(len(pool.log_components))]

    def _estimate(self, pool, members, log_tempered=None):
        """The efficiency of the equal mixture of rounds ``members``' proposals, from all rounds' draws
        (with the tempered share when ``log_tempered``, Q_T's log density at the pooled draws, is given).

        ε(Q) = Z² / ∫ (Lπ)²/Q, both integrals estimated with every pooled draw, weighed against the pooled
        mixture P: Ẑ = mean(Lπ/P), ∫ (Lπ)²/Q ≈ mean((Lπ)² / (Q P)). A round's own efficiency rests on its own
        few thousand draws and, with heavy-tailed weights, overstates what fresh draws give (the rare large
        weights are missing: measured on the quickstart injection, a round's own 18.8% gave 10.4% fresh, its
        pooled estimate 21.0% gave 20.1%); the pooled estimate also sees posterior mass that other rounds'
        draws found and Q under-covers.
        """
        usable = np.isfinite(pool.log_target)
        if not usable.any():
            return 0.0
        log_q = logsumexp(pool.log_components[members][:, usable], axis=0) - np.log(len(members))
        if log_tempered is not None:
            log_q = self._with_tempered_share(log_q, log_tempered[usable])
        log_ratio = pool.log_target[usable] - pool.log_pooled[usable]
        # With r = Lπ/P over all n draws (zero-weight ones, outside the prior, count as in a run's efficiency):
        # ε = (Σ r / n)² / (Σ r Lπ/Q / n) = (Σ r)² / (n Σ r Lπ/Q).
        return float(np.exp(2 * logsumexp(log_ratio) - logsumexp(log_ratio + pool.log_target[usable] - log_q)
                            - np.log(pool.log_target.size)))

    def _pooled(self, stores, densities):
        """The draws of all rounds with log Lπ and every round's proposal's log density at each of them.

        Q_0 = q₀; Q_j = α q₀ + (1 − α) q_fit,j ρ for j ≥ 1, with log q₀ at each draw as the draw recorded it.
        A validation round j drew from the frozen proposal of its members m: (1 − s) mean_m Q_m + s Q_T,j, with
        Q_T,j = α q₀ + (1 − α) q_tempered,j ρ when that proposal had a tempered share s (:meth:`frozen_proposal`).
        A fit's density at a round's draws never changes: it is computed once per (fit, round).
        """
        log_base = np.concatenate([self._log_base(store) for store in stores])
        log_auxiliary = np.concatenate([store.log_auxiliary[:store.num_evaluated] for store in stores])
        log_components = [log_base]
        for j, density in enumerate(densities):
            members = self._validation_members.get(j + 1)
            if members is None:
                log_components.append(self._defensive(log_base, self._log_fit(density, ("round", j), stores),
                                                      log_auxiliary))
                continue
            log_members = logsumexp([log_components[m] for m in members], axis=0) - np.log(len(members))
            tempered = self._tempered.get(j + 1)
            if tempered is not None:
                log_tempered = self._log_tempered_proposal(tempered, j + 1, log_base, log_auxiliary, stores)
                log_members = self._with_tempered_share(log_members, log_tempered)
            log_components.append(log_members)
        log_likelihood = np.concatenate([store.log_likelihood[:store.num_evaluated] for store in stores])
        log_prior = np.concatenate([store.log_prior[:store.num_evaluated] for store in stores])
        log_target = log_weights(log_likelihood, log_prior + log_auxiliary, np.zeros(len(log_likelihood)))
        counts = np.array([store.num_evaluated for store in stores], dtype=float)
        return PooledDraws(np.concatenate([store.theta[:store.num_evaluated] for store in stores]), log_target,
                           np.array(log_components), counts, log_auxiliary)

    def _log_fit(self, density, tag, stores):
        """A fitted density's log density at every round's draws, cached per (tag, round, fit digest)."""
        digest, log_fit = density.digest(), []
        for i, store in enumerate(stores):
            key = (tag, i, digest)
            if key not in self._fit_log_prob:
                samples = {k: store.theta[:store.num_evaluated, n] for n, k in enumerate(self.parameter_keys)}
                self._fit_log_prob[key] = density.log_prob(samples)
            log_fit.append(self._fit_log_prob[key])
        return np.concatenate(log_fit)

    def _defensive(self, log_base, log_fit, log_auxiliary):
        """log(α q₀ + (1 − α) q_fit ρ)."""
        alpha = self.settings.refine_alpha
        with np.errstate(invalid="ignore"):
            return np.logaddexp(np.log(alpha) + log_base, np.log1p(-alpha) + log_fit + log_auxiliary)

    def _log_tempered_proposal(self, tempered, number, log_base, log_auxiliary, stores):
        """log Q_T = log(α q₀ + (1 − α) q_tempered ρ) at every round's draws, for the tempered fit kept under
        ``number``."""
        return self._defensive(log_base, self._log_fit(tempered, ("tempered", number), stores), log_auxiliary)

    def _with_tempered_share(self, log_proposal, log_tempered):
        """log((1 − s) Q + s Q_T) = log(α q₀ + (1 − α)[(1 − s) q_fit + s q_tempered] ρ) for Q, Q_T defensive."""
        share = self.settings.refine_tempered_share
        return np.logaddexp(np.log1p(-share) + log_proposal, np.log(share) + log_tempered)

    @staticmethod
    def _log_base(store):
        """log q₀ at a round's draws: its log q for round 0, the recorded column for mixture rounds."""
        if BASE_LOG_PROB in store.auxiliary_keys:
            return store.auxiliary[:store.num_evaluated, store.auxiliary_keys.index(BASE_LOG_PROB)]
        return store.log_proposal[:store.num_evaluated]

    def mixture(self, density):
        """α q₀ + (1 − α) q_fit for a fitted density, or for the equal mixture of a list of them."""
        if isinstance(density, list):
            density = density[0] if len(density) == 1 else DensityEnsemble(density)
        return DefensiveMixtureProposal(self.base, density, self.settings.refine_alpha)

    def _can_refine(self):
        if evaluates_density(self.base) and sorted(self.base.parameter_keys) == sorted(self.parameter_keys):
            return True
        logger.info(f"The proposal ({self.base.describe()}) cannot be refined: it does not evaluate its density at "
                    f"given points (Proposal.log_prob) or draws other parameters than the sampled ones.")
        return False

    def _finished(self, rounds, estimates):
        """Whether to stop refining, judged by the pooled efficiency estimates of the rounds so far."""
        best = max(estimates)
        if not self.can_continue(rounds):
            return True
        if len(rounds) - 1 in self._validation_members:
            return False  # fresh draws just showed the frozen proposal misses mass: fit again with them
        if best >= ENOUGH_EFFICIENCY:
            return True
        if len(rounds) < 3 or rounds[-1].beta != 1.0 or rounds[-2].beta != 1.0:
            return False
        # At β = 1: stop once two rounds in a row fail to beat the best estimate before them by 10% (one fit
        # can be unlucky) ...
        best_before = max(estimates[:-2])
        if best < MIN_IMPROVEMENT * best_before:
            return True
        # ... or once a further round is expected to cost more likelihood calls than it saves: at the gain per
        # round of the last two, g, it would cut the final draws needed for target_n_eff, target / ε, by
        # (target / ε)(1 − 1/g).
        if self.settings.target_n_eff is None:
            return False
        gain = np.sqrt(best / best_before) if best_before > 0 else np.inf
        return bool(self.settings.target_n_eff / best * (1 - 1 / gain) < self.settings.refine_draws)

    def _round_zero(self):
        size = self.settings.refine_draws
        if self.settings.target_n_eff is None:
            size = min(size, self.settings.num_samples)
        return self._evaluate(self.base, size, self.round_zero_rng)

    def _evaluate(self, proposal, size, rng):
        """``size`` fresh draws of ``proposal`` with their weights, in one batch."""
        settings = dataclasses.replace(self.settings, num_samples=size, target_n_eff=None, max_samples=None,
                                       batch_size=size)
        store = DrawStore(self.parameter_keys, self.fingerprint, self.seed, auxiliary_keys=list(proposal.auxiliary_keys))
        return ImportanceSamplingRun(proposal, self.priors, self.parameter_keys, self.evaluate_log_likelihood,
                                     settings, rng, store).run()

    @staticmethod
    def _record(number, beta, store, num_components, fit_time, wall_time):
        summary = summarize(store.evaluated_log_weights())
        return RefinementRound(round=number, beta=beta, num_draws=store.num_draws,
                               num_likelihood_evaluations=store.num_likelihood_evaluations,
                               sample_efficiency=summary.sample_efficiency, n_eff=summary.n_eff,
                               log_evidence=summary.log_evidence, log_evidence_std=summary.log_evidence_std,
                               num_components=num_components, fit_time=fit_time,
                               wall_time=wall_time or store.proposal_time + store.likelihood_time)

    # --- state file ----------------------------------------------------------------------------------

    def round_draws_path(self, number):
        """The file beside the state file that holds round ``number``'s draws."""
        return round_draws_path(self.state_path, number)

    def _save_state(self, rounds, densities, stores, draws=True):
        if self.state_path is None:
            return
        os.makedirs(os.path.dirname(self.state_path) or ".", exist_ok=True)
        # The draws first: a state file always refers to draws already on disk (earlier rounds' are there).
        if draws:
            stores[-1].save(self.round_draws_path(len(stores) - 1))
        metadata = dict(format_version=REFINEMENT_FORMAT_VERSION, fingerprint=self.fingerprint, seed=self.seed,
                        keys=self.parameter_keys, rounds=[dataclasses.asdict(record) for record in rounds],
                        validation_members={str(number): members for number, members in self._validation_members.items()},
                        tempered=sorted(self._tempered))
        arrays = {f"density{i}_{name}": value for i, density in enumerate(densities) if density is not None
                  for name, value in density.to_arrays().items()}
        arrays.update({f"tempered{number}_{name}": value for number, density in self._tempered.items()
                       for name, value in density.to_arrays().items()})
        with atomic_path(self.state_path, suffix=".npz") as temporary:
            np.savez(temporary, metadata=np.array(json.dumps(metadata)), **arrays)

    def _load_state(self):
        """(rounds, densities, every round's draws) from the state files, or empty when there are none."""
        if self.state_path is None or not os.path.exists(self.state_path):
            return [], [], []
        try:
            with np.load(self.state_path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                arrays = {key: np.array(data[key]) for key in data.files if key != "metadata"}
        except Exception as error:
            raise CheckpointError(f"Cannot read the refinement state {self.state_path} ({error}). Delete it, or "
                                  f"pass resume=False, to start afresh.") from error
        if metadata.get("format_version") != REFINEMENT_FORMAT_VERSION:
            raise CheckpointError(
                f"The refinement state {self.state_path} was written by another bilby_dingo version. Delete it, or "
                f"pass resume=False, to start afresh.")
        differing = differing_components(metadata.get("fingerprint"), self.fingerprint) \
            if isinstance(self.fingerprint, dict) else (["all"] if metadata.get("fingerprint") != self.fingerprint else [])
        if differing:
            raise CheckpointError(
                f"The refinement state {self.state_path} belongs to another analysis (differing: "
                f"{', '.join(differing)}). Use another outdir or label, delete it, or pass resume=False.")
        rounds = [RefinementRound(**record) for record in metadata["rounds"]]
        self._validation_members = {int(number): list(members)
                                    for number, members in metadata.get("validation_members", {}).items()}
        self._tempered = {}
        for number in metadata.get("tempered", []):
            prefix = f"tempered{number}_"
            self._tempered[int(number)] = FittedDensity.from_arrays(metadata["keys"], arrays_under_prefix(arrays, prefix))
        densities = []
        for i in range(len(rounds) - 1):
            prefix = f"density{i}_"
            if i + 1 in self._validation_members:
                densities.append(None)
                continue
            densities.append(FittedDensity.from_arrays(metadata["keys"], arrays_under_prefix(arrays, prefix)))
        stores = []
        for number, record in enumerate(rounds):
            path = self.round_draws_path(number)
            store = DrawStore.load(path)
            if store.num_draws != record.num_draws or store.fingerprint != self.fingerprint:
                raise CheckpointError(f"{path} does not hold the draws of refinement round {number}. Delete "
                                      f"{self.state_path} and the files beside it, or pass resume=False.")
            stores.append(store)
        logger.info(f"Resuming refinement after round {len(rounds) - 1} from {self.state_path}")
        return rounds, densities, stores


def round_draws_path(state_path, number):
    stem = state_path[: -len(".npz")] if state_path.endswith(".npz") else state_path
    return f"{stem}_round{number}.npz"


def state_files(state_path):
    """The refinement state file and every round-draws file beside it that exists."""
    stem = state_path[: -len(".npz")] if state_path.endswith(".npz") else state_path
    folder = os.path.dirname(state_path) or "."
    name = os.path.basename(stem) + "_round"
    rounds = [os.path.join(folder, entry) for entry in os.listdir(folder)
              if entry.startswith(name) and entry.endswith(".npz")] if os.path.isdir(folder) else []
    return ([state_path] if os.path.exists(state_path) else []) + sorted(rounds)


def stored_seed(path):
    """The sampling seed recorded in a refinement state or checkpoint file, or None (absent, unreadable)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return int(json.loads(str(data["metadata"]))["seed"])
    except Exception:  # an unreadable file is reported, with its fix, where it is loaded
        return None
