"""Known answers on bilby's linear-model GaussianLikelihood: the closed-form evidence and the exact
posterior, with tolerances set by the noise of the comparison itself.

The model y = m x + c with Gaussian noise of known σ is linear in (m, c): log L is an exact quadratic,
log L(β) = log L(β̂) − ½ (β − β̂)ᵀ F (β − β̂) with F = XᵀX / σ², so under a uniform prior of volume V

    Z = L(β̂) · 2π / sqrt(det F) · P_box / V,

P_box the mass of N(β̂, F⁻¹) inside the prior's box. The posterior is that Gaussian, truncated to the box.
"""

import bilby
import numpy as np
import pytest
from scipy import stats

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.validation.compare import js_divergence
from tests.models import linear_model_problem

EVIDENCE_TOLERANCE = 0.01  # nats
KEYS = ["m", "c"]


def closed_form_log_evidence(likelihood, priors, mean, covariance):
    peak = likelihood.log_likelihood(parameters=dict(zip(KEYS, mean)))
    low = np.array([priors[key].minimum for key in KEYS])
    high = np.array([priors[key].maximum for key in KEYS])
    gaussian = stats.multivariate_normal(mean, covariance)
    # Mass inside the box by inclusion-exclusion of the CDF at its corners.
    box_mass = (gaussian.cdf(high) - gaussian.cdf([low[0], high[1]]) - gaussian.cdf([high[0], low[1]])
                + gaussian.cdf(low))
    log_volume = np.log(np.prod(high - low))
    return peak + np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(covariance)[1] + np.log(box_mass) - log_volume


@pytest.fixture(scope="module")
def problem():
    return linear_model_problem(seed=42)


@pytest.fixture(scope="module")
def dingo_result(problem, tmp_path_factory):
    likelihood, priors, mean, covariance = problem
    # The least-squares fit, widened and heavy-tailed: a proposal a user could build without any sampler.
    proposal = MultivariateStudentTProposal(KEYS, mean, 1.5 * covariance, dof=10)
    return bilby.run_sampler(likelihood, priors, sampler="dingo", proposal=proposal, target_n_eff=60_000,
                             batch_size=30_000, refine=False, diagnostic_plots=False, save=False,
                             outdir=str(tmp_path_factory.mktemp("known")), label="linear", sampling_seed=17)


def test_closed_form_evidence(problem, dingo_result):
    truth = closed_form_log_evidence(*problem)
    error = dingo_result.log_evidence - truth
    # Enough draws that the tolerance is at least 3 standard errors: a 0.01-nat bias cannot hide in the noise.
    assert 3 * dingo_result.log_evidence_err < EVIDENCE_TOLERANCE, dingo_result.log_evidence_err
    assert abs(error) < EVIDENCE_TOLERANCE, (
        f"log Z {dingo_result.log_evidence:.5f} ± {dingo_result.log_evidence_err:.5f}, closed form {truth:.5f}")


def test_closed_form_evidence_is_bilbys_likelihood_integrated():
    """The formula itself, against a trapezoid-rule integral over the prior box of a small problem's
    likelihood (vectorised; equal to bilby's at sampled grid points)."""
    likelihood, priors, mean, covariance = linear_model_problem(seed=3, n_points=10, sigma=3.0)
    x, y, sigma = likelihood.x, likelihood.y, likelihood.sigma
    m, c = np.meshgrid(np.linspace(0, 5, 1001), np.linspace(-2, 2, 1001), indexing="ij")
    residuals = y[None, None, :] - m[..., None] * x - c[..., None]
    log_l = -0.5 * np.sum((residuals / sigma) ** 2, axis=-1) - 0.5 * len(x) * np.log(2 * np.pi * sigma**2)
    for i, j in [(0, 0), (180, 640), (1000, 1000)]:
        assert log_l[i, j] == pytest.approx(bilby_log_likelihood(likelihood, m[i, j], c[i, j]), abs=1e-9)
    weights = np.outer(_trapezoid(1001), _trapezoid(1001)) * (5 / 1000) * (4 / 1000)
    brute = np.log(np.sum(np.exp(log_l - log_l.max()) * weights)) + log_l.max() - np.log(20)
    assert closed_form_log_evidence(likelihood, priors, mean, covariance) == pytest.approx(brute, abs=1e-4)


def _trapezoid(n):
    weights = np.ones(n)
    weights[[0, -1]] = 0.5
    return weights


def bilby_log_likelihood(likelihood, m, c):
    return likelihood.log_likelihood(parameters=dict(m=m, c=c))


def exact_posterior(problem, size, seed):
    _, _, mean, covariance = problem
    return np.random.default_rng(seed).multivariate_normal(mean, covariance, size)


@pytest.fixture(scope="module")
def jsd_check(problem, dingo_result):
    """(reference draws, threshold per parameter): the threshold is 3× the JSD that exact posterior draws
    as many as the dingo posterior has rows reach against the reference (mean of three), i.e. 3× the noise
    of the comparison as made."""
    reference = exact_posterior(problem, 200_000, seed=1)
    n = len(dingo_result.posterior)
    noise = {key: np.mean([js_divergence(exact_posterior(problem, n, seed)[:, i], reference[:, i])
                           for seed in (2, 3, 4)]) for i, key in enumerate(KEYS)}
    return reference, {key: 3 * value for key, value in noise.items()}


@pytest.mark.parametrize("key", KEYS)
def test_posterior_marginals_match_the_exact_posterior(dingo_result, jsd_check, key):
    reference, threshold = jsd_check
    assert len(dingo_result.posterior) >= 20_000  # the resolution the threshold below needs
    divergence = js_divergence(dingo_result.posterior[key].to_numpy(), reference[:, KEYS.index(key)])
    assert divergence < threshold[key], f"JSD({key}) = {divergence:.6f} nats ≥ {threshold[key]:.6f}"


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("distortion", ["shift by 0.1 sigma", "10% wider"])
def test_the_jsd_check_rejects_a_slightly_wrong_posterior(problem, dingo_result, jsd_check, key, distortion):
    """The same check fails dingo's own posterior moved by a tenth of a standard deviation, or widened by 10%."""
    reference, threshold = jsd_check
    samples = dingo_result.posterior[key].to_numpy()
    sd = np.sqrt(problem[3][KEYS.index(key)][KEYS.index(key)])
    if distortion == "shift by 0.1 sigma":
        wrong = samples + 0.1 * sd
    else:
        wrong = samples.mean() + 1.1 * (samples - samples.mean())
    divergence = js_divergence(wrong, reference[:, KEYS.index(key)])
    assert divergence > threshold[key], f"{distortion}: JSD({key}) = {divergence:.6f} ≤ {threshold[key]:.6f}"
