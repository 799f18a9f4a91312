"""Adaptive refinement on problems with known answers: fitted densities, tempering, PSIS, exactness.

The refinement loop is driven directly with vectorised log-likelihoods (the sampler's evaluator is any
callable θ → log L), so that many seeds run in seconds.
"""

from dataclasses import replace

import bilby
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.importance_sampling.draws import DrawStore
from bilby_dingo.importance_sampling.driver import ImportanceSamplingRun
from bilby_dingo.importance_sampling.refinement import ProposalRefinement, RefinementRound, tempering_exponent
from bilby_dingo.importance_sampling.statistics import pareto_k_hat, summarize
from bilby_dingo.proposals import fitted_flow
from bilby_dingo.proposals.fitted import COVARIANCE_INFLATION, DensityEnsemble, FittedDensity
from bilby_dingo.proposals.mixture import DefensiveMixtureProposal
from bilby_dingo.settings import DingoSettings

HALF_WIDTH = 3.0


def box_priors(keys, half_width=HALF_WIDTH):
    return bilby.core.prior.PriorDict({key: bilby.core.prior.Uniform(-half_width, half_width, key) for key in keys})


def correlated_gaussian(dim=9, seed=0, sd=0.1):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    correlation = a @ a.T / dim + 0.2 * np.eye(dim)
    scale = np.sqrt(np.diag(correlation))
    return np.zeros(dim), sd**2 * correlation / np.outer(scale, scale)


def gaussian_log_likelihood(mean, cov):
    distribution = stats.multivariate_normal(mean, cov)
    return lambda theta: np.atleast_1d(distribution.logpdf(theta))


def refine_and_sample(log_likelihood, priors, proposal, seed, target_n_eff=2000, **overrides):
    """Refinement, then the final run with the frozen proposal: (final store, refinement outcome)."""
    keys = list(proposal.parameter_keys)
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=target_n_eff)), refine_draws=2000,
                       batch_size=4000, **overrides)
    refinement = ProposalRefinement(proposal, priors, keys, log_likelihood, settings, seed,
                                    np.random.default_rng([seed, 1])).run()
    store = refinement.first_store or DrawStore(keys, "test", seed)
    final = ImportanceSamplingRun(refinement.proposal, priors, keys, log_likelihood, settings,
                                  np.random.default_rng([seed, 2]), store).run()
    return final, refinement


def weighted_moments(store):
    log_w = store.evaluated_log_weights()
    weights = np.exp(log_w - logsumexp(log_w))
    mean = weights @ store.theta
    return mean, (weights[:, None] * (store.theta - mean)).T @ (store.theta - mean)


# --- the fitted density --------------------------------------------------------------------------


def test_fitted_density_is_normalised_inside_the_prior_and_keeps_a_wrapped_mode_whole():
    priors = bilby.core.prior.PriorDict(dict(
        a=bilby.core.prior.Uniform(0, 1, "a"),
        ra=bilby.core.prior.Uniform(0, 2 * np.pi, "ra", boundary="periodic"),
        z=bilby.core.prior.Gaussian(0, 10, "z")))
    rng = np.random.default_rng(0)
    n = 20_000
    # A posterior pressed against a = 0, and one straddling ra = 0 = 2π.
    theta = np.column_stack([rng.beta(1.5, 8, n), np.mod(rng.normal(0.05, 0.3, n), 2 * np.pi), rng.normal(3, 1, n)])
    density = FittedDensity.fit(priors, ["a", "ra", "z"], theta, np.ones(n), rng)
    draws = density.sample(100_000, rng)
    assert draws["a"].min() > 0 and draws["a"].max() < 1
    assert draws["ra"].min() >= 0 and draws["ra"].max() < 2 * np.pi
    # One piece around 0: the draws' circular spread matches the data's (0.3, times the covariance
    # inflation's square root), none land half a turn away.
    offset = np.angle(np.exp(1j * (draws["ra"] - 0.05)))
    assert np.std(offset) == pytest.approx(0.3 * np.sqrt(COVARIANCE_INFLATION), rel=0.1)
    assert np.mean(np.abs(offset) > 2.0) < 1e-3
    # Normalised: ∫ q = 1, estimated with uniform reference draws over a box holding the mass.
    box = dict(a=rng.uniform(0, 1, 800_000), ra=rng.uniform(0, 2 * np.pi, 800_000), z=rng.uniform(-4, 10, 800_000))
    integral = np.mean(np.exp(density.log_prob(box))) * 2 * np.pi * 14
    assert integral == pytest.approx(1, abs=0.02)
    # Zero density outside the prior's bounds (it never draws there).
    assert np.all(density.log_prob(dict(a=np.array([-0.1, 1.2]), ra=np.array([1.0, 7.0]), z=np.zeros(2))) == -np.inf)
    # Rebuilt from plain arrays (the checkpoint): the same density.
    rebuilt = FittedDensity.from_arrays(density.keys, density.to_arrays())
    np.testing.assert_array_equal(rebuilt.log_prob(draws), density.log_prob(draws))
    assert rebuilt.digest() == density.digest()


def test_fitted_density_finds_two_separated_modes():
    priors = box_priors(["x", "y"], 5)
    rng = np.random.default_rng(1)
    theta = np.concatenate([rng.normal([-2, 0], 0.2, (3000, 2)), rng.normal([2, 1], 0.3, (7000, 2))])
    density = FittedDensity.fit(priors, ["x", "y"], theta, np.ones(len(theta)), rng)
    assert density.num_components >= 2
    draws = density.sample(40_000, rng)
    assert np.mean(draws["x"] > 0) == pytest.approx(0.7, abs=0.02)


def test_tempering_exponent_keeps_the_requested_effective_fraction():
    log_w = np.random.default_rng(2).normal(0, 5, 10_000)
    beta = tempering_exponent(log_w, 1000)
    assert 0 < beta < 1
    assert summarize(beta * log_w).n_eff == pytest.approx(1000, rel=1e-3)
    assert tempering_exponent(np.random.default_rng(2).normal(0, 0.1, 1000), 100) == 1.0


@pytest.mark.parametrize("shape", [0.2, 0.5, 0.9])
def test_pareto_k_hat_recovers_the_tail_shape(shape):
    weights = stats.genpareto(c=shape).rvs(size=20_000, random_state=np.random.default_rng(3))
    assert pareto_k_hat(np.log(weights)) == pytest.approx(shape, abs=0.15)


def test_pareto_k_hat_of_light_tailed_weights_is_small():
    assert pareto_k_hat(np.random.default_rng(4).normal(0, 0.3, 20_000)) < 0.3


# --- refinement: known answers ---------------------------------------------------------------------


def test_nine_dimensional_gaussian_evidence_unbiased_over_seeds_and_efficiency_raised():
    """q₀ a Student-t 4× too broad and offset by 0.7 of its width: log Z within 3σ of the truth per seed,
    z-scores consistent with 0 over 20 seeds, moments right, efficiency at least 10× the base's."""
    mean, cov = correlated_gaussian()
    keys = [f"x{i}" for i in range(len(mean))]
    priors = box_priors(keys)
    truth = -len(keys) * np.log(2 * HALF_WIDTH)
    base = MultivariateStudentTProposal(keys, mean + 0.7 * 4 * np.sqrt(np.diag(cov)), 16 * cov, dof=5)
    z_scores = []
    for seed in range(20):
        store, refinement = refine_and_sample(gaussian_log_likelihood(mean, cov), priors, base, seed)
        summary = summarize(store.evaluated_log_weights())
        z_scores.append((summary.log_evidence - truth) / summary.log_evidence_std)
        assert abs(z_scores[-1]) < 3.5, (seed, summary)
        assert summary.sample_efficiency >= 10 * refinement.rounds[0].sample_efficiency, refinement.rounds
        if seed == 0:
            weighted_mean, weighted_cov = weighted_moments(store)
            standard_error = np.sqrt(np.diag(cov) / summary.n_eff)
            assert np.all(np.abs(weighted_mean - mean) < 4 * standard_error), (weighted_mean, standard_error)
            np.testing.assert_allclose(np.diag(weighted_cov), np.diag(cov), rtol=4 * np.sqrt(2 / summary.n_eff))
    z_scores = np.array(z_scores)
    # Mean of 20 unit normals: sd 0.22; the spread of unit normals: 0.6-1.45 holds with > 99% probability.
    assert abs(z_scores.mean()) < 0.75, z_scores
    assert 0.6 < z_scores.std(ddof=1) < 1.45, z_scores


@pytest.mark.parametrize("family, min_efficiency", [("student-t", 0.3), ("flow", 0.5)])
def test_banana_evidence_and_efficiency(family, min_efficiency, monkeypatch):
    """x ~ N(0, 1), y | x ~ N(x² / 2, 0.2²): a normalised density, so Z = 1 / prior volume."""
    # 600 steps: enough for a 2-D shape; keeps the test fast
    monkeypatch.setattr(fitted_flow, "DEFAULT_TRAINING", replace(fitted_flow.DEFAULT_TRAINING, max_steps=600))
    keys = ["x", "y"]
    priors = box_priors(keys, 6)

    def log_likelihood(theta):
        x, y = theta[:, 0], theta[:, 1]
        return stats.norm.logpdf(x) + stats.norm.logpdf(y, x**2 / 2, 0.2)

    base = MultivariateStudentTProposal(keys, [0.5, 1.5], np.diag([9.0, 9.0]), dof=3)
    store, refinement = refine_and_sample(log_likelihood, priors, base, seed=5, refine_density=family,
                                          refine_max_rounds=4 if family == "flow" else 8)
    summary = summarize(store.evaluated_log_weights())
    truth = -2 * np.log(12)
    assert abs(summary.log_evidence - truth) < 3 * summary.log_evidence_std, (summary, truth)
    assert summary.sample_efficiency >= 10 * refinement.rounds[0].sample_efficiency, refinement.rounds
    assert summary.sample_efficiency > min_efficiency, refinement.rounds


def test_two_separated_modes_keep_their_weights():
    """0.3 N((−1.5, 0), 0.1²) + 0.7 N((1.5, 0.5), 0.1²), both inside a broad q₀."""
    keys = ["x", "y"]
    priors = box_priors(keys, 4)
    centres, weights, sd = np.array([[-1.5, 0.0], [1.5, 0.5]]), np.array([0.3, 0.7]), 0.1

    def log_likelihood(theta):
        terms = [np.log(w) + stats.multivariate_normal(c, sd**2 * np.eye(2)).logpdf(theta) for c, w in zip(centres, weights)]
        return logsumexp(terms, axis=0)

    base = MultivariateStudentTProposal(keys, [0.0, 0.5], np.diag([4.0, 4.0]), dof=5)
    store, refinement = refine_and_sample(log_likelihood, priors, base, seed=6)
    summary = summarize(store.evaluated_log_weights())
    assert abs(summary.log_evidence - (-2 * np.log(8))) < 3 * summary.log_evidence_std, summary
    log_w = store.evaluated_log_weights()
    share = np.exp(logsumexp(log_w[store.theta[:, 0] > 0]) - logsumexp(log_w))
    assert share == pytest.approx(0.7, abs=4 * np.sqrt(0.21 / summary.n_eff)), share
    assert summary.sample_efficiency >= 10 * refinement.rounds[0].sample_efficiency, refinement.rounds


def test_no_refinement_when_round_zero_meets_the_target():
    mean, cov = correlated_gaussian(dim=2)
    keys = ["x0", "x1"]
    good = MultivariateStudentTProposal(keys, mean, 1.2 * cov, dof=10)
    store, refinement = refine_and_sample(gaussian_log_likelihood(mean, cov), box_priors(keys), good, seed=7)
    assert len(refinement.rounds) == 1 and refinement.proposal is good
    # Round 0's draws are the final run's first batch: no likelihood call is spent on set-up.
    assert refinement.first_store is not None and refinement.num_likelihood_evaluations == 0
    assert store.num_batches >= 2


def test_every_final_weight_is_bounded_by_the_defensive_component():
    mean, cov = correlated_gaussian(dim=4)
    keys = [f"x{i}" for i in range(4)]
    priors = box_priors(keys)
    base = MultivariateStudentTProposal(keys, mean + 0.3, 16 * cov, dof=5)
    log_likelihood = gaussian_log_likelihood(mean, cov)
    store, refinement = refine_and_sample(log_likelihood, priors, base, seed=8)
    assert isinstance(refinement.proposal, DefensiveMixtureProposal)
    alpha = refinement.proposal.alpha
    samples = {key: store.theta[:, i] for i, key in enumerate(keys)}
    base_log_w = log_likelihood(store.theta) + store.log_prior - base.log_prob(samples)
    log_w = store.evaluated_log_weights()
    finite = np.isfinite(log_w)
    assert np.all(log_w[finite] <= base_log_w[finite] - np.log(alpha) + 1e-9)
    # ... and the bound is attained nowhere near everywhere: the fit does the work.
    assert np.median(log_w[finite] - base_log_w[finite]) < -np.log(alpha) - 2


def test_mixture_density_matches_its_draws():
    """log Q reported with the draws equals log_prob at those points, and Q integrates to one."""
    mean, cov = correlated_gaussian(dim=2)
    keys = ["x0", "x1"]
    priors = box_priors(keys)
    base = MultivariateStudentTProposal(keys, mean, 25 * cov, dof=5)
    rng = np.random.default_rng(9)
    theta = rng.multivariate_normal(mean, cov, 5000)
    density = FittedDensity.fit(priors, keys, theta, np.ones(len(theta)), rng)
    mixture = DefensiveMixtureProposal(base, density, 0.2)
    drawn = mixture.sample(4000, rng)
    np.testing.assert_allclose(mixture.log_prob(drawn.samples), drawn.log_prob, rtol=0, atol=1e-10)
    box = {key: rng.uniform(-HALF_WIDTH, HALF_WIDTH, 400_000) for key in keys}
    inside_box = np.mean(np.exp(mixture.log_prob(box))) * (2 * HALF_WIDTH) ** 2
    base_outside = 1 - np.mean(np.exp(base.log_prob(box))) * (2 * HALF_WIDTH) ** 2
    assert inside_box == pytest.approx(1 - 0.2 * base_outside, abs=0.02)
    # The reported density is the one the draws come from: they importance-sample the normalised Gaussian
    # the fit was made to with Z = 1 (a density with the components' weights swapped would give Z ≈ 4).
    many = mixture.sample(40_000, rng)
    points = np.column_stack([many.samples[key] for key in keys])
    log_w = stats.multivariate_normal(mean, cov).logpdf(points) - many.log_prob
    summary = summarize(log_w)
    assert abs(summary.log_evidence) < 4 * summary.log_evidence_std, summary


def two_separated_fits(rng):
    """Two fitted densities over (x0, x1), centred at x0 = -1 and x0 = +1 (so x0 > 0 tells which drew)."""
    keys = ["x0", "x1"]
    priors = box_priors(keys)
    return keys, [FittedDensity.fit(priors, keys, rng.normal(centre, 0.3, (4000, 2)), np.ones(4000), rng)
                  for centre in ([-1.0, 0.0], [1.0, 0.5])]


def test_density_ensemble_is_the_equal_mixture_of_its_members():
    rng = np.random.default_rng(10)
    keys, members = two_separated_fits(rng)
    ensemble = DensityEnsemble(members)
    draws = ensemble.sample(20_000, rng)
    expected = np.log(0.5 * np.exp(members[0].log_prob(draws)) + 0.5 * np.exp(members[1].log_prob(draws)))
    np.testing.assert_allclose(ensemble.log_prob(draws), expected, rtol=0, atol=1e-10)
    assert np.mean(draws["x0"] > 0) == pytest.approx(0.5, abs=0.015)
    assert not np.all(np.diff((draws["x0"] > 0).astype(int)) == 0)  # shuffled, not grouped by member
    box = {key: rng.uniform(-HALF_WIDTH, HALF_WIDTH, 400_000) for key in keys}
    assert np.mean(np.exp(ensemble.log_prob(box))) * (2 * HALF_WIDTH) ** 2 == pytest.approx(1, abs=0.02)
    assert ensemble.digest() not in (members[0].digest(), members[1].digest())
    with pytest.raises(ValueError, match="same parameters"):
        DensityEnsemble([members[0], FittedDensity.fit(box_priors(["x0", "z"]), ["x0", "z"],
                                                       rng.normal(0, 0.3, (500, 2)), np.ones(500), rng)])


def test_density_ensemble_with_shares_draws_and_weighs_each_member_by_its_share():
    # The frozen proposal's tempered share is an ensemble with unequal shares: its draws must come from the
    # members in those shares, and its density must be the same weighted mixture (else the weights are biased).
    rng = np.random.default_rng(11)
    keys, members = two_separated_fits(rng)
    ensemble = DensityEnsemble(members, [0.8, 0.2])
    draws = ensemble.sample(20_000, rng)
    assert np.mean(draws["x0"] > 0) == pytest.approx(0.2, abs=0.015)
    expected = np.log(0.8 * np.exp(members[0].log_prob(draws)) + 0.2 * np.exp(members[1].log_prob(draws)))
    np.testing.assert_allclose(ensemble.log_prob(draws), expected, rtol=0, atol=1e-10)
    box = {key: rng.uniform(-HALF_WIDTH, HALF_WIDTH, 400_000) for key in keys}
    assert np.mean(np.exp(ensemble.log_prob(box))) * (2 * HALF_WIDTH) ** 2 == pytest.approx(1, abs=0.02)
    assert ensemble.digest() != DensityEnsemble(members).digest() != DensityEnsemble(members, [0.2, 0.8]).digest()
    for shares in ([0.8, 0.3], [1.0, 0.0], [0.5, 0.25, 0.25]):
        with pytest.raises(ValueError, match="one positive share per member, summing to 1"):
            DensityEnsemble(members, shares)


def pooled_setting(log_likelihood, keys, base, seed):
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=1000)), refine_draws=4000)
    return ProposalRefinement(base, box_priors(keys), keys, log_likelihood, settings, seed, np.random.default_rng(seed))


def fresh_efficiency(refiner, proposal, size, seed):
    return summarize(refiner._evaluate(proposal, size, np.random.default_rng(seed)).evaluated_log_weights()).sample_efficiency


def test_pooled_efficiency_estimates_predict_fresh_draws():
    """Each round's proposal's efficiency, estimated from all rounds' draws, matches that of many fresh draws."""
    mean, cov = correlated_gaussian(dim=3, sd=0.2)
    keys = ["x0", "x1", "x2"]
    base = MultivariateStudentTProposal(keys, mean + 0.1, 9 * cov, dof=5)
    refiner = pooled_setting(gaussian_log_likelihood(mean, cov), keys, base, seed=11)
    rng = np.random.default_rng(12)
    # A fit to draws of a somewhat wider, offset Gaussian: a proposal between q0 and the posterior.
    density = FittedDensity.fit(refiner.priors, keys, rng.multivariate_normal(mean - 0.1, 2.5 * cov, 4000),
                                np.ones(4000), rng)
    stores = [refiner._evaluate(base, 4000, rng), refiner._evaluate(refiner.mixture(density), 4000, rng)]
    singles = refiner._estimates(refiner._pooled(stores, [density]))
    for estimate, proposal in zip(singles, [base, refiner.mixture(density)]):
        assert estimate == pytest.approx(fresh_efficiency(refiner, proposal, 100_000, 13), rel=0.15)
    assert singles[1] > 2 * singles[0]


def test_two_fits_that_each_miss_a_mode_are_frozen_together():
    """Each fit covers one of two equal modes: the average of the two fits is far more efficient than either."""
    keys = ["x", "y"]
    centres, sd = np.array([[-1.5, 0.0], [1.5, 0.5]]), 0.15

    def log_likelihood(theta):
        terms = [np.log(0.5) + stats.multivariate_normal(c, sd**2 * np.eye(2)).logpdf(theta) for c in centres]
        return logsumexp(terms, axis=0)

    base = MultivariateStudentTProposal(keys, [0.0, 0.25], np.diag([4.0, 4.0]), dof=5)
    refiner = pooled_setting(log_likelihood, keys, base, seed=14)
    rng = np.random.default_rng(15)
    densities = [FittedDensity.fit(refiner.priors, keys, rng.normal(c, sd, (4000, 2)), np.ones(4000), rng)
                 for c in centres]
    stores = [refiner._evaluate(base, 4000, rng)] + [refiner._evaluate(refiner.mixture(d), 4000, rng)
                                                     for d in densities]
    pool = refiner._pooled(stores, densities)
    singles = refiner._estimates(pool)
    chosen, estimate = refiner.choose_frozen(pool, singles)
    assert chosen == [1, 2]
    assert estimate > 3 * max(singles)
    both = refiner.mixture([densities[0], densities[1]])
    assert estimate == pytest.approx(fresh_efficiency(refiner, both, 40_000, 16), rel=0.05)


def fake_rounds(betas, draws=5000):
    return [RefinementRound(round=i, beta=beta, num_draws=draws, num_likelihood_evaluations=draws,
                            sample_efficiency=0.1, n_eff=500.0, log_evidence=0.0, log_evidence_std=0.1,
                            num_components=0, fit_time=1.0, wall_time=1.0) for i, beta in enumerate(betas)]


@pytest.mark.parametrize("estimates, target, stop", [
    ([0.001, 0.10, 0.12], 2000, False),  # climbing steeply: a further round saves more than it costs
    ([0.001, 0.15, 0.19, 0.20], 2000, True),  # gain 1.15 a round: saves 2000/0.2 × 0.13 ≈ 1,300 < 5,000 draws
    ([0.001, 0.15, 0.19, 0.20], 50_000, False),  # the same gain saves ≈ 13,000 > 5,000 for a larger target
    ([0.001, 0.15, 0.14, 0.16], 50_000, True),  # two rounds without a 10% gain
    ([0.001, 0.02, 0.55], 50_000, True),  # past 50%
])
def test_refinement_stops_when_a_round_no_longer_pays(estimates, target, stop):
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=target)), refine_draws=5000)
    refiner = ProposalRefinement(None, None, [], None, settings, 0, None)
    rounds = fake_rounds([None] + [1.0] * (len(estimates) - 1))
    assert refiner._finished(rounds, estimates) is stop
    assert not refiner._finished(fake_rounds([None, 0.3, 0.6]), [0.001, 0.002, 0.01])  # still tempering


def test_resumed_refinement_equals_an_uninterrupted_one(tmp_path):
    mean, cov = correlated_gaussian(dim=6)
    keys = [f"x{i}" for i in range(6)]
    priors = box_priors(keys)
    base = MultivariateStudentTProposal(keys, mean + 0.3, 64 * cov, dof=5)
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=1000)), refine_draws=1000)
    log_likelihood = gaussian_log_likelihood(mean, cov)

    def refinement(path, evaluator=log_likelihood):
        return ProposalRefinement(base, priors, keys, evaluator, settings, 3, np.random.default_rng(0),
                                  state_path=str(path / "state.npz"), fingerprint="toy")

    uninterrupted = refinement(tmp_path / "a").run()
    assert len(uninterrupted.rounds) >= 3

    class Interrupt(Exception):
        pass

    calls = []

    def failing(theta):
        calls.append(len(theta))
        if len(calls) == 3:  # during round 2
            raise Interrupt
        return log_likelihood(theta)

    with pytest.raises(Interrupt):
        refinement(tmp_path / "b", failing).run()
    resumed = refinement(tmp_path / "b").run()
    assert [r.sample_efficiency for r in resumed.rounds] == [r.sample_efficiency for r in uninterrupted.rounds]
    assert resumed.proposal.fingerprint() == uninterrupted.proposal.fingerprint()
    # A state file of another analysis is refused.
    other = ProposalRefinement(base, priors, keys, log_likelihood, settings, 3, np.random.default_rng(0),
                               state_path=str(tmp_path / "b" / "state.npz"), fingerprint="another")
    with pytest.raises(Exception, match="another analysis"):
        other.run()


# --- the spline-flow family ---------------------------------------------------------------------------


def test_flow_density_is_normalised_bounded_and_rebuilt_from_arrays(monkeypatch):
    # 600 steps: enough for a 2-D shape; keeps the test fast
    monkeypatch.setattr(fitted_flow, "DEFAULT_TRAINING", replace(fitted_flow.DEFAULT_TRAINING, max_steps=600))
    priors = bilby.core.prior.PriorDict(dict(
        a=bilby.core.prior.Uniform(0, 1, "a"),
        ra=bilby.core.prior.Uniform(0, 2 * np.pi, "ra", boundary="periodic")))
    rng = np.random.default_rng(4)
    n = 6000
    theta = np.column_stack([rng.beta(1.5, 8, n), np.mod(rng.normal(0.05, 0.3, n), 2 * np.pi)])
    density = FittedDensity.fit(priors, ["a", "ra"], theta, np.ones(n), rng, family="flow")
    assert density.num_components == 0 and "spline flow" in density.describe()
    draws = density.sample(20_000, rng)
    assert draws["a"].min() > 0 and draws["a"].max() < 1
    offset = np.angle(np.exp(1j * (draws["ra"] - 0.05)))
    # The base's scales widen it: N(0, 1.25²) mostly, a share from N(0, 2.5²).
    widened = 0.3 * np.sqrt((1 - fitted_flow.WIDE_SHARE) * fitted_flow.BASE_SCALE**2
                            + fitted_flow.WIDE_SHARE * fitted_flow.WIDE_SCALE**2)
    assert np.std(offset) == pytest.approx(widened, rel=0.15)
    box = dict(a=rng.uniform(0, 1, 400_000), ra=rng.uniform(0, 2 * np.pi, 400_000))
    assert np.mean(np.exp(density.log_prob(box))) * 2 * np.pi == pytest.approx(1, abs=0.03)
    rebuilt = FittedDensity.from_arrays(density.keys, density.to_arrays())
    np.testing.assert_array_equal(rebuilt.log_prob(draws), density.log_prob(draws))
    assert rebuilt.digest() == density.digest()
    # The same generator state gives the same draws (the flow's noise comes from numpy's generator).
    np.testing.assert_array_equal(rebuilt.sample(10, np.random.default_rng(9))["a"],
                                  density.sample(10, np.random.default_rng(9))["a"])


def test_a_validation_round_is_pooled_with_its_frozen_proposals_density_and_survives_a_reload(tmp_path, monkeypatch):
    """Final draws handed back (add_validation_round) count in the pool as draws of the equal mixture of the
    frozen rounds' proposals; the state file keeps that, and refinement goes on with new fits."""
    from bilby_dingo.importance_sampling import refinement as refinement_module

    monkeypatch.setattr(refinement_module, "ENOUGH_EFFICIENCY", 0.99)  # this easy target would stop it at once
    mean, cov = correlated_gaussian(dim=3, sd=0.2)
    keys = ["x0", "x1", "x2"]
    base = MultivariateStudentTProposal(keys, mean + 0.3, 16 * cov, dof=5)
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=1000)), refine_draws=1000, refine_max_rounds=4)
    log_likelihood = gaussian_log_likelihood(mean, cov)

    def refinement():
        return ProposalRefinement(base, box_priors(keys), keys, log_likelihood, settings, 5, np.random.default_rng(0),
                                  state_path=str(tmp_path / "state.npz"), fingerprint="toy")

    refiner = refinement()
    outcome = refiner.run()
    fitted = len(outcome.rounds) - 1
    assert fitted >= 2
    frozen = [1, fitted]  # a mixture of two rounds' proposals, as choose_frozen may freeze
    number = len(outcome.rounds)  # the validation round's number: the tempered fit is kept under it
    tempered, first_fit, last_fit = refiner._tempered[number], outcome.densities[0], outcome.densities[-1]
    final = refiner._evaluate(refiner.frozen_proposal([first_fit, last_fit], tempered), 1500,
                              np.random.default_rng(9))
    assert not refiner.undercovers(outcome, final)  # one batch is never judged
    refiner.add_validation_round(final, frozen)
    rounds, densities, stores = refiner._state
    pool = refiner._pooled(stores, densities)
    # α q₀ + (1 − α)[(1 − s) (q_1 + q_fitted)/2 + s q_tempered], written out.
    alpha, share = settings.refine_alpha, settings.refine_tempered_share
    theta = {key: pool.theta[:, i] for i, key in enumerate(keys)}
    fits = (np.exp(first_fit.log_prob(theta)) + np.exp(last_fit.log_prob(theta))) / 2
    expected = np.log(alpha * np.exp(pool.log_components[0])
                      + (1 - alpha) * ((1 - share) * fits + share * np.exp(tempered.log_prob(theta))))
    np.testing.assert_allclose(pool.log_components[number], expected, rtol=1e-9)
    np.testing.assert_allclose(pool.log_components[number][-1500:], final.log_proposal[:1500], atol=1e-9)
    # Reloaded from the state file: the same pool, and the round budget counts fitted rounds only.
    reloaded = refinement()
    reloaded_rounds, reloaded_densities, reloaded_stores = reloaded._load_state()
    assert reloaded._validation_members == {number: frozen}
    assert reloaded._tempered[number].digest() == tempered.digest()
    np.testing.assert_array_equal(reloaded._pooled(reloaded_stores, reloaded_densities).log_components,
                                  pool.log_components)
    assert fitted < settings.refine_max_rounds and refiner.can_continue()
    # Refinement goes on after the validation round with new fits (the round budget counts fitted rounds only).
    again = refiner.run()
    assert again.num_validation_rounds == 1
    assert len(again.rounds) == settings.refine_max_rounds + 2 and not refiner.can_continue()
    assert again.rounds[number + 1].num_components > 0 or again.rounds[number + 1].beta is not None
    assert number not in again.frozen_rounds


def test_the_frozen_proposals_tempered_share_is_fitted_to_the_posterior_at_temperature_two():
    """The frozen proposal is α q₀ + (1 − α)[(1 − s) q_fit + s q_T] with q_T fitted to (Lπ)^½: for a Gaussian
    posterior well inside a box prior, a Gaussian with twice the posterior's covariance and its mean (not a step
    towards the pooled proposals, which sit 0.3 away). With s = 0 the plain fit is frozen and nothing more is fitted."""
    mean, cov = correlated_gaussian(dim=3, sd=0.2)
    keys = ["x0", "x1", "x2"]
    base = MultivariateStudentTProposal(keys, mean + 0.3, 16 * cov, dof=5)
    log_likelihood = gaussian_log_likelihood(mean, cov)

    def refine(share):
        settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=1000)), refine_draws=2000,
                           refine_tempered_share=share)
        refiner = ProposalRefinement(base, box_priors(keys), keys, log_likelihood, settings, 3, np.random.default_rng(0))
        return refiner, refiner.run()

    refiner, outcome = refine(0.2)
    assert outcome.frozen_rounds != [0] and outcome.as_dict()["tempered_share"] == 0.2
    tempered = refiner._tempered[len(outcome.rounds)]
    rng = np.random.default_rng(4)
    draws = tempered.sample(50_000, rng)
    points = np.column_stack([draws[key] for key in keys])
    np.testing.assert_allclose(points.mean(axis=0), mean, atol=0.04)
    # Against a fit to the posterior itself (the same family, so the same inflation of a fitted Student-t).
    fits = [refiner._state[1][number - 1] for number in outcome.frozen_rounds]
    fit_draws = fits[0].sample(50_000, rng)
    fit_cov = np.cov(np.column_stack([fit_draws[key] for key in keys]).T)
    ratio = np.linalg.eigvals(np.linalg.solve(fit_cov, np.cov(points.T))).real
    assert np.all((ratio > 1.6) & (ratio < 2.5)), ratio
    # The frozen density, written out from its parts.
    check = {key: points[:500, i] for i, key in enumerate(keys)}
    log_fit = logsumexp([fit.log_prob(check) for fit in fits], axis=0) - np.log(len(fits))
    expected = np.log(0.1 * np.exp(base.log_prob(check)) + 0.9 * (0.8 * np.exp(log_fit) + 0.2 * np.exp(tempered.log_prob(check))))
    np.testing.assert_allclose(outcome.proposal.log_prob(check), expected, rtol=1e-10)

    plain_refiner, plain = refine(0.0)
    assert plain.as_dict()["tempered_share"] == 0.0 and not plain_refiner._tempered
    plain_fits = [plain_refiner._state[1][number - 1] for number in plain.frozen_rounds]
    log_plain = logsumexp([fit.log_prob(check) for fit in plain_fits], axis=0) - np.log(len(plain_fits))
    np.testing.assert_allclose(plain.proposal.log_prob(check),
                               np.logaddexp(np.log(0.1) + base.log_prob(check), np.log(0.9) + log_plain), rtol=1e-10)
