import numpy as np
import pytest

from bilby_dingo.importance_sampling.statistics import (
    log_weights,
    rejection_sample,
    resample,
    split_n_eff,
    summarize,
)


def test_equal_weights_are_fully_efficient():
    summary = summarize(np.full(100, -3.0))
    assert summary.n_eff == pytest.approx(100)
    assert summary.sample_efficiency == pytest.approx(1)
    assert summary.log_evidence == pytest.approx(-3.0)
    assert summary.log_evidence_std == pytest.approx(0, abs=1e-6)


def test_zero_weights_count_in_n_and_lower_the_evidence():
    log_w = np.array([0.0, 0.0, -np.inf, -np.inf])
    summary = summarize(log_w)
    assert summary.num_draws == 4
    assert summary.num_zero_weight == 2
    assert summary.n_eff == pytest.approx(2)
    assert summary.sample_efficiency == pytest.approx(0.5)
    assert summary.log_evidence == pytest.approx(np.log(2 / 4))
    assert summary.log_evidence_std == pytest.approx(np.sqrt((4 - 2) / (4 * 2)))


def test_summary_matches_direct_formulas():
    rng = np.random.default_rng(0)
    log_w = rng.normal(-50, 2, size=1000)  # large offsets: must not overflow
    w = np.exp(log_w + 50)
    summary = summarize(log_w)
    n_eff = w.sum() ** 2 / (w**2).sum()
    assert summary.n_eff == pytest.approx(n_eff, rel=1e-10)
    assert summary.log_evidence == pytest.approx(np.log(w.mean()) - 50, rel=1e-12)
    assert summary.log_evidence_std == pytest.approx(np.sqrt((1000 - n_eff) / (1000 * n_eff)), rel=1e-10)


def test_all_zero_weights():
    summary = summarize(np.full(5, -np.inf))
    assert summary.n_eff == 0 and summary.log_evidence == -np.inf and summary.num_zero_weight == 5


def test_log_weights_zero_outside_prior_and_for_nonfinite_likelihood():
    log_w = log_weights(
        log_likelihood=[1.0, np.nan, np.inf, 2.0, -np.inf],
        log_prior=[0.0, 0.0, 0.0, -np.inf, 0.0],
        log_proposal=[0.5, 0.0, 0.0, 0.0, 0.0],
    )
    np.testing.assert_array_equal(log_w, [0.5, -np.inf, -np.inf, -np.inf, -np.inf])


def test_split_n_eff_flags_a_large_weight_that_just_appeared():
    settled = np.zeros(1000)
    first, second = split_n_eff(settled)
    assert first == pytest.approx(500) and second == pytest.approx(500)
    late_spike = np.r_[np.zeros(999), np.log(300.0)]
    first, second = split_n_eff(late_spike)
    assert first == pytest.approx(500) and second < 10
    assert summarize(late_spike).n_eff > 5


def test_rejection_sampling_keeps_distinct_draws_in_proportion_to_weight():
    rng = np.random.default_rng(1)
    log_w = np.log(np.r_[np.full(20000, 1.0), np.full(20000, 0.25)])
    kept = rejection_sample(log_w, rng)
    assert len(np.unique(kept)) == len(kept)
    heavy, light = np.count_nonzero(kept < 20000), np.count_nonzero(kept >= 20000)
    assert light / heavy == pytest.approx(0.25, rel=0.05)
    # Expected number kept is Σw / max w, never more than n_eff.
    assert len(kept) <= summarize(log_w).n_eff


def test_rejection_sampling_of_zero_weights_keeps_nothing():
    assert rejection_sample(np.full(3, -np.inf), np.random.default_rng(0)).size == 0


def test_resampling_repeats_draws_in_proportion_to_weight():
    rng = np.random.default_rng(2)
    log_w = np.log(np.array([0.5, 0.3, 0.2, 0.0]))  # the last draw has weight zero
    kept = resample(log_w, 100_000, rng)
    counts = np.bincount(kept, minlength=4) / 100_000
    # Systematic resampling: each count is size × p_i rounded up or down.
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.2, 0.0], atol=2e-5)
    # Unbiased over offsets: the mean count of a draw whose size × p_i is fractional.
    log_w = np.log(np.array([0.37, 0.33, 0.3]))
    mean_counts = np.mean([np.bincount(resample(log_w, 2, rng), minlength=3) for _ in range(20_000)], axis=0)
    np.testing.assert_allclose(mean_counts, [0.74, 0.66, 0.6], atol=0.02)
    # No row repeats when every size × p_i < 1.
    weights = rng.uniform(0.5, 1.5, 5000)
    kept = resample(np.log(weights), 2000, rng)
    assert kept.size == 2000 == np.unique(kept).size
