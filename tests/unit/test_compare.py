"""Figures of merit against a reference sampler: JSDs, their reference floor, evidence difference, speed-up."""

import bilby
import numpy as np
import pandas as pd
import pytest

from bilby_dingo.validation.compare import (
    compare_results,
    dynesty_reference,
    js_divergence,
    reference_jsd_floor,
    reference_seeded_check,
)


def _reference(rng, size=4000, shift=0.0):
    return bilby.core.result.Result(posterior=pd.DataFrame(dict(x=rng.normal(shift, 1, size),
                                                                y=rng.uniform(0, 1, size))),
                                    log_evidence=-10.0, log_evidence_err=0.1, num_likelihood_evaluations=100_000)


def _dingo(rng, shift=0.0):
    # Weighted draws from a broad proposal whose weights make them N(shift, 1) in x.
    x = rng.normal(shift, 2, 20_000)
    weights = np.exp(-0.5 * (x - shift) ** 2 + 0.5 * ((x - shift) / 2) ** 2)
    nested = pd.DataFrame(dict(x=x, y=rng.uniform(0, 1, x.size), weights=weights / weights.sum()))
    return bilby.core.result.Result(nested_samples=nested, log_evidence=-10.3, log_evidence_err=0.4,
                                    num_likelihood_evaluations=20_000,
                                    meta_data=dict(dingo=dict(sample_efficiency=0.5, n_eff=10_000.0)))


def test_matching_posteriors_agree_and_a_shifted_one_does_not():
    rng = np.random.default_rng(1)
    reference = _reference(rng)
    same = compare_results(_dingo(rng), reference, ["x", "y"], dingo_seconds=10.0, other_seconds=250.0)
    assert same["max_jsd_nats"] < 0.003
    assert same["log_evidence_difference"] == pytest.approx(-0.3)
    assert same["combined_error"] == pytest.approx(np.hypot(0.1, 0.4))
    assert same["speed_up"] == pytest.approx(25.0)
    assert same["likelihood_calls_dingo"] == 20_000 and same["likelihood_calls_other"] == 100_000
    shifted = compare_results(_dingo(rng, shift=0.5), reference, ["x", "y"])
    assert shifted["jsd_nats"]["x"] > 0.02 and shifted["jsd_nats"]["y"] < 0.003
    assert "speed_up" not in shifted


def test_the_reference_floor_shrinks_with_the_reference_size():
    rng = np.random.default_rng(2)
    small, large = reference_jsd_floor(_reference(rng, 400), ["x"]), reference_jsd_floor(_reference(rng, 40_000), ["x"])
    assert 0 < large["x"] < small["x"] < 0.05
    assert js_divergence(rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)) < 0.002



def test_a_periodic_mode_across_the_wrap_point_is_compared_on_the_circle():
    """The same wrapped-normal ra mode at 0 = 2π, sampled twice: on the line the KDEs smear the two
    half-modes (JSD ~0.05); on the circle (cut where the samples are sparsest) it is sampling noise, the
    same wherever the mode sits, and a real shift is still seen. compare_results takes the period from
    the reference's periodic prior."""
    rng = np.random.default_rng(3)
    period = (0.0, 2 * np.pi)
    many, few = (np.mod(rng.normal(0.0, 0.3, size), 2 * np.pi) for size in (20_000, 1000))
    assert js_divergence(many, few) > 0.02
    on_circle = js_divergence(many, few, period=period)
    assert on_circle < 0.002
    assert js_divergence(np.mod(many + 2.0, 2 * np.pi), np.mod(few + 2.0, 2 * np.pi), period=period) == \
        pytest.approx(on_circle, rel=1e-6)
    assert js_divergence(many, np.mod(few + 0.4, 2 * np.pi), period=period) > 0.1

    priors = bilby.core.prior.PriorDict(dict(ra=bilby.core.prior.Uniform(0, 2 * np.pi, boundary="periodic")))
    reference = bilby.core.result.Result(posterior=pd.DataFrame(dict(ra=few)), priors=priors,
                                         search_parameter_keys=["ra"], log_evidence=-10.0, log_evidence_err=0.1,
                                         num_likelihood_evaluations=100_000)
    dingo = bilby.core.result.Result(nested_samples=pd.DataFrame(dict(ra=many, weights=np.full(many.size, 1 / many.size))),
                                     log_evidence=-10.0, log_evidence_err=0.1, num_likelihood_evaluations=20_000,
                                     meta_data=dict(dingo=dict(sample_efficiency=1.0, n_eff=float(many.size))))
    assert compare_results(dingo, reference, ["ra"])["jsd_nats"]["ra"] == pytest.approx(on_circle, rel=1e-6)


def test_dynesty_reference_is_run_once_and_then_read_back(tmp_path, monkeypatch):
    """dynesty's result is kept and reused for the same analysis and settings; other settings rerun it."""
    likelihood = bilby.core.likelihood.AnalyticalMultidimensionalCovariantGaussian(mean=[0.0], cov=[[1.0]])
    priors = bilby.core.prior.PriorDict(dict(x0=bilby.core.prior.Uniform(-5, 5, "x0")))
    settings = dict(nlive=40, naccept=5, data="toy")
    first, seconds = dynesty_reference(likelihood, priors, str(tmp_path), settings, seed=3)
    assert (tmp_path / "dynesty_result.hdf5").exists() and seconds > 0
    assert first.log_evidence == pytest.approx(-np.log(10), abs=4 * first.log_evidence_err + 0.1)

    calls = []
    real_run_sampler = bilby.run_sampler
    monkeypatch.setattr(bilby, "run_sampler", lambda *args, **kwargs: calls.append(kwargs) or real_run_sampler(*args, **kwargs))
    again, again_seconds = dynesty_reference(likelihood, priors, str(tmp_path), settings, seed=3)
    assert not calls and again.log_evidence == first.log_evidence and again_seconds == seconds
    dynesty_reference(likelihood, priors, str(tmp_path), dict(settings, nlive=50), seed=3)
    assert len(calls) == 1 and calls[0]["nlive"] == 50
    # A checkpoint left by a run of other settings is never resumed.
    (tmp_path / "dynesty_resume.pickle").write_bytes(b"not a checkpoint of these settings")
    (tmp_path / "dynesty_result.hdf5").unlink()
    dynesty_reference(likelihood, priors, str(tmp_path), dict(settings, nlive=45), seed=3)
    assert calls[-1]["nlive"] == 45 and (tmp_path / "dynesty_result.hdf5").exists()


class _TwoModes(bilby.core.likelihood.Likelihood):
    """Two Gaussian modes (σ 0.4) in (x, y), at x = 0 with 70% of the mass and at x = 3 with 30%."""

    def __init__(self):
        super().__init__(parameters=dict(x=None, y=None))

    def log_likelihood(self):
        x, y = self.parameters["x"], self.parameters["y"]
        return float(np.logaddexp(np.log(0.7) - 0.5 * (x ** 2 + y ** 2) / 0.16,
                                  np.log(0.3) - 0.5 * ((x - 3) ** 2 + y ** 2) / 0.16))


def test_the_reference_seeded_check_sides_with_the_right_answer(tmp_path):
    """A reference that gives the second mode 5% instead of 30%, and dingo draws with the right 30%: the
    importance sampling seeded by the reference's own posterior recovers 30% (its draws in the under-
    populated mode carry large weights), so it agrees with dingo and not with the reference."""
    rng = np.random.default_rng(4)

    def mixture(size, second):
        second_mode = rng.uniform(size=size) < second
        return pd.DataFrame(dict(x=rng.normal(np.where(second_mode, 3.0, 0.0), 0.4), y=rng.normal(0, 0.4, size)))

    priors = bilby.core.prior.PriorDict(dict(x=bilby.core.prior.Uniform(-5, 8, "x"),
                                             y=bilby.core.prior.Uniform(-5, 5, "y")))
    reference = bilby.core.result.Result(posterior=mixture(2000, 0.05), priors=priors, search_parameter_keys=["x", "y"],
                                         log_evidence=0.0, log_evidence_err=0.1, num_likelihood_evaluations=10 ** 6)
    right = mixture(20_000, 0.3)
    dingo = bilby.core.result.Result(nested_samples=right.assign(weights=1 / len(right)), log_evidence=0.0,
                                     log_evidence_err=0.01, num_likelihood_evaluations=10 ** 4,
                                     meta_data=dict(dingo=dict(sample_efficiency=1.0, n_eff=2e4)))
    seeded, figures = reference_seeded_check(_TwoModes(), priors, reference, dingo, ["x", "y"], str(tmp_path),
                                             refine_density="student-t", target_n_eff=3000, max_samples=200_000,
                                             sampling_seed=5, save=False)
    draws = seeded.nested_samples
    second_mode_share = draws["weights"][draws["x"] > 1.5].sum() / draws["weights"].sum()
    assert second_mode_share == pytest.approx(0.3, abs=0.03)
    assert figures["jsd_vs_dingo_nats"]["x"] < 0.01 < figures["jsd_vs_reference_nats"]["x"]
    assert figures["n_eff"] >= 3000
