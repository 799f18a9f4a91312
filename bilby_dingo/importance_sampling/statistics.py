r"""Importance-sampling statistics (DINGO-IS, Dax et al. 2023, PRL 130, 171403).

For draws :math:`\theta_i \sim q`, :math:`i = 1..N`:

.. math::
    \log w_i = \log L(d|\theta_i) + \log\pi(\theta_i) - \log q(\theta_i),\qquad
    \hat Z = \frac{1}{N}\sum_i w_i,\qquad
    n_\mathrm{eff} = \frac{(\sum_i w_i)^2}{\sum_i w_i^2},\qquad
    \epsilon = n_\mathrm{eff} / N,\qquad
    \sigma_{\log Z} = \sqrt{\frac{N - n_\mathrm{eff}}{N\, n_\mathrm{eff}}}.

N counts every draw, zero weights included (draws outside the prior, non-finite likelihoods).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


def log_weights(log_likelihood, log_prior, log_proposal):
    """log w = log L + log π − log q, with −inf for draws outside the prior or with non-finite L.

    All inputs have shape (N,). ``log_likelihood`` may be NaN where it was not evaluated
    (draws outside the prior).
    """
    log_likelihood = np.asarray(log_likelihood, dtype=float)
    log_prior = np.asarray(log_prior, dtype=float)
    log_proposal = np.asarray(log_proposal, dtype=float)
    valid = np.isfinite(log_prior) & np.isfinite(log_likelihood)
    result = np.full(log_likelihood.shape, -np.inf)
    result[valid] = log_likelihood[valid] + log_prior[valid] - log_proposal[valid]
    return result


@dataclass(frozen=True)
class ImportanceSamplingSummary:
    """What the weights say about the evidence and the proposal's quality."""

    num_draws: int
    n_eff: float
    sample_efficiency: float
    log_evidence: float
    log_evidence_std: float
    num_zero_weight: int


def summarize(log_w):
    """Evidence, its standard error, n_eff and efficiency from log weights of shape (N,)."""
    log_w = np.asarray(log_w, dtype=float)
    num_draws = log_w.size
    nonzero = np.isfinite(log_w)
    num_zero = int(num_draws - np.count_nonzero(nonzero))
    if num_draws == 0 or not np.any(nonzero):
        return ImportanceSamplingSummary(num_draws, 0.0, 0.0, -np.inf, np.inf, num_zero)
    log_sum = logsumexp(log_w[nonzero])
    n_eff = float(np.exp(2 * log_sum - logsumexp(2 * log_w[nonzero])))
    log_evidence = float(log_sum - np.log(num_draws))
    # (N - n_eff) can round to a tiny negative number when every weight is equal.
    log_evidence_std = float(np.sqrt(max(num_draws - n_eff, 0.0) / (num_draws * n_eff)))
    return ImportanceSamplingSummary(
        num_draws=int(num_draws),
        n_eff=n_eff,
        sample_efficiency=n_eff / num_draws,
        log_evidence=log_evidence,
        log_evidence_std=log_evidence_std,
        num_zero_weight=num_zero,
    )


def split_n_eff(log_w):
    """n_eff of the first and of the second half of the draws (in drawing order).

    Small samples miss the rare large weights of a heavy-tailed weight distribution and overstate
    n_eff (DINGO-IS found ×2.9 from 1,000 draws). When a large weight has only just appeared, the
    two halves disagree; when the estimate has settled, each half carries about half of n_eff.
    """
    log_w = np.asarray(log_w, dtype=float)
    half = log_w.size // 2
    return summarize(log_w[:half]).n_eff, summarize(log_w[half:]).n_eff


def rejection_sample(log_w, rng):
    """Indices of draws kept by rejection sampling: keep draw i with probability w_i / max w.

    Every kept draw is distinct (no duplicated rows). The expected number kept, Σw / max w, never
    exceeds n_eff (since Σw² ≤ max w · Σw), so the sample never claims more than the weights support.
    """
    log_w = np.asarray(log_w, dtype=float)
    if not np.any(np.isfinite(log_w)):
        return np.empty(0, dtype=int)
    acceptance = np.exp(log_w - np.max(log_w))
    return np.flatnonzero(rng.uniform(size=log_w.size) < acceptance)


# Below this many effective draws an importance-sampled posterior is too narrow: in the default model's
# 200-injection P-P (docs/validation.md) the credible levels fail (p < 0.001, driven by injections with
# n_eff of a few) and pass over the injections with n_eff >= 50 (p = 0.43).
MIN_RELIABLE_N_EFF = 50


def resample(log_w, size, rng):
    """Indices of ``size`` draws by systematic resampling with probabilities p_i = w_i / Σw (rows may repeat).

    One uniform offset u, then the draws whose cumulative probability intervals hold (u + k) / size for
    k = 0 … size − 1: draw i is taken ⌊size p_i⌋ or ⌈size p_i⌉ times, size p_i on average. As unbiased as
    independent (multinomial) draws, with far fewer repeats: when every size p_i < 1 no row repeats.
    """
    log_w = np.asarray(log_w, dtype=float)
    if not np.any(np.isfinite(log_w)):
        return np.empty(0, dtype=int)
    probabilities = np.exp(log_w - np.max(log_w))
    cumulative = np.cumsum(probabilities / probabilities.sum())
    positions = (rng.random() + np.arange(size)) / size
    return np.minimum(np.searchsorted(cumulative, positions, side="right"), log_w.size - 1)


def efficiency_warning_message(summary, threshold, pareto_k=None):
    """The message a result carries when the sample efficiency is below ``threshold``, n_eff below
    ``MIN_RELIABLE_N_EFF`` or the Pareto k̂ of the weights above ``PARETO_K_THRESHOLD`` ('' otherwise)."""
    messages = []
    if summary.sample_efficiency < threshold:
        messages.append(
            f"Sample efficiency {100 * summary.sample_efficiency:.3f}% is below {100 * threshold:g}% "
            f"(n_eff={summary.n_eff:.1f}): the proposal covers the posterior poorly, so the result rests on few "
            f"draws. Likely causes: a network trained for other data, noise or priors; data problems (glitches, "
            f"wrong PSD); a prior outside the proposal's support.")
    if summary.n_eff < MIN_RELIABLE_N_EFF:
        messages.append(
            f"n_eff={summary.n_eff:.1f} is below {MIN_RELIABLE_N_EFF}: a posterior made of so few effective draws is "
            f"too narrow (its credible intervals miss the truth too often). Draw more, e.g. target_n_eff=1000.")
    if pareto_k is not None and pareto_k > PARETO_K_THRESHOLD:
        messages.append(
            f"The largest weights have a Pareto tail shape k = {pareto_k:.2f} > {PARETO_K_THRESHOLD}: the evidence and "
            f"posterior estimates are unreliable however many draws are taken (PSIS diagnostic). The proposal misses "
            f"part of the posterior: check the data, the prior's overlap with the proposal, or use refine=True.")
    return " ".join(messages)


# Pareto-smoothed importance sampling diagnostic (Vehtari, Simpson, Gelman, Yao & Gabry, arXiv:1507.02646):
# above this shape the weights' tail is too heavy for the estimates to be trusted.
PARETO_K_THRESHOLD = 0.7


def pareto_k_hat(log_w):
    r"""Shape k̂ of a generalised Pareto distribution fitted to the largest weights.

    The tail is the largest M = min(N/5, 3√N) non-zero weights above the next one; k̂ comes from the
    profile-likelihood estimator of Zhang & Stephens (2009, Technometrics 51, 316), shrunk towards 0.5
    with a weak prior (10 pseudo-observations), as PSIS does. k̂ < 0.5: a finite-variance tail;
    k̂ > 0.7: the estimate is unreliable however many draws are taken. NaN with fewer than 25 non-zero weights.
    """
    log_w = np.asarray(log_w, dtype=float)
    log_w = np.sort(log_w[np.isfinite(log_w)])
    n = log_w.size
    tail_size = int(min(n / 5, 3 * np.sqrt(n)))
    if tail_size < 5:
        return float("nan")
    threshold = log_w[-tail_size - 1]
    # Exceedances over the threshold, in units of the largest weight (the shape does not depend on the unit).
    exceedances = np.exp(log_w[-tail_size:] - log_w[-1]) - np.exp(threshold - log_w[-1])
    if not exceedances[-1] > 0:
        return 0.0
    return _zhang_stephens_shape(exceedances)


def _zhang_stephens_shape(x):
    """Generalised Pareto shape ξ of sorted positive exceedances ``x`` (Zhang & Stephens 2009), with PSIS's prior."""
    n = x.size
    m = 30 + int(np.sqrt(n))
    quartile = x[int(n / 4 + 0.5) - 1]
    # Candidate values of θ = −ξ/σ, and their profile log-likelihood n [log(θ / k) + k − 1], k = −mean log(1 − θx).
    theta = 1 / x[-1] + (1 - np.sqrt(m / (np.arange(1, m + 1) - 0.5))) / (3 * quartile)
    k = -np.mean(np.log1p(-theta[:, None] * x[None, :]), axis=1)
    profile = n * (np.log(theta / k) + k - 1)
    posterior = np.exp(profile - logsumexp(profile))
    theta_hat = np.sum(theta * posterior)
    shape = float(np.mean(np.log1p(-theta_hat * x)))  # ξ = −k(θ̂)
    return (n * shape + 10 * 0.5) / (n + 10)
