"""The dingo sampler through bilby.run_sampler: evidence, posterior, determinism, result contents."""

import bilby
import numpy as np
import pytest

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.plugin import Dingo
from tests.models import CountingLikelihood, NaNLikelihood, NormalisedGaussianLikelihood

MEAN = dict(x=1.0, y=-2.0)
COV = np.array([[0.25, 0.06], [0.06, 0.09]])
HALF_WIDTH = 10.0  # uniform prior on [-10, 10]^2: Z = 1 / 400


def uniform_priors():
    return bilby.core.prior.PriorDict(
        {key: bilby.core.prior.Uniform(-HALF_WIDTH, HALF_WIDTH, key) for key in MEAN}
    )


def student_t(dof=5.0, scale=2.0):
    return MultivariateStudentTProposal(list(MEAN), list(MEAN.values()), scale * COV, dof=dof)


def run(tmp_path, likelihood=None, priors=None, label="test", **kwargs):
    kwargs.setdefault("sampling_seed", 7)
    # The diagnostic figures cost ~3 s a run; test_plots_are_written and the refinement test ask for them.
    kwargs.setdefault("diagnostic_plots", False)
    return bilby.run_sampler(
        likelihood or NormalisedGaussianLikelihood(MEAN, COV),
        priors or uniform_priors(),
        sampler="dingo",
        outdir=str(tmp_path),
        label=label,
        save=False,
        **kwargs,
    )


def test_registered_with_bilby():
    assert "dingo" in bilby.core.sampler.IMPLEMENTED_SAMPLERS
    assert bilby.core.sampler.get_sampler_class("dingo") is Dingo


@pytest.mark.parametrize("proposal, num_samples", [("prior", 200_000), (student_t(), 20_000)])
def test_closed_form_evidence_and_posterior_moments(tmp_path, proposal, num_samples):
    result = run(tmp_path, proposal=proposal, num_samples=num_samples)
    expected = -np.log((2 * HALF_WIDTH) ** 2)
    assert abs(result.log_evidence - expected) < 3 * result.log_evidence_err, (result.log_evidence, expected)
    # Moments within 4 standard errors; se(C_ij) = sqrt((C_ii C_jj + C_ij^2) / n) for Gaussian draws.
    nested = result.nested_samples
    n_eff = result.meta_data["dingo"]["n_eff"]
    weighted_mean = np.average(nested[list(MEAN)], weights=nested["weights"], axis=0)
    weighted_cov = np.cov(nested[list(MEAN)].to_numpy().T, aweights=nested["weights"])
    posterior = result.posterior[list(MEAN)].to_numpy()
    for mean, cov, n in [(weighted_mean, weighted_cov, n_eff), (posterior.mean(axis=0), np.cov(posterior.T), len(posterior))]:
        np.testing.assert_allclose(mean, list(MEAN.values()), atol=4 * np.sqrt(np.diag(COV).max() / n))
        cov_error = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV**2) / n)
        assert np.all(np.abs(cov - COV) < 4 * cov_error), (cov, COV, cov_error)


def test_result_contents(tmp_path):
    result = run(tmp_path, proposal=student_t(), num_samples=5000)
    meta = result.meta_data["dingo"]
    nested = result.nested_samples
    assert len(nested) == meta["num_proposals"] == 5000
    for column in ["x", "y", "weights", "log_weights", "log_likelihood", "log_prior", "log_prob"]:
        assert column in nested
    assert nested["weights"].sum() == pytest.approx(1)
    # Unweighted posterior: distinct draws taken from the weighted set, aligned evaluations.
    assert len(result.posterior) == meta["num_posterior_samples"] > 1000
    assert not result.posterior.duplicated(subset=["x", "y"]).any()
    merged = result.posterior.merge(nested, on=["x", "y"], suffixes=("", "_all"))
    assert len(merged) == len(result.posterior)
    np.testing.assert_allclose(merged["log_likelihood"], merged["log_likelihood_all"])
    np.testing.assert_allclose(merged["log_prior"], merged["log_prior_all"])
    # Evidence and efficiency agree with the stored weights.
    log_w = nested["log_weights"].to_numpy()
    assert result.log_evidence == pytest.approx(np.logaddexp.reduce(log_w) - np.log(len(log_w)))
    assert meta["sample_efficiency"] == pytest.approx(meta["n_eff"] / 5000)
    assert result.log_evidence_err == meta["log_evidence_std"]
    assert result.num_likelihood_evaluations == 5000 - meta["num_outside_prior"]
    for key in ["num_zero_weight", "num_nonfinite_likelihood", "proposal_time", "likelihood_time",
                "proposal", "sampling_seed"]:
        assert key in meta
    assert meta["efficiency_warning"] == ""


def test_draws_outside_prior_get_zero_weight_without_a_likelihood_call(tmp_path):
    likelihood = CountingLikelihood(MEAN, COV)
    narrow = bilby.core.prior.PriorDict(dict(x=bilby.core.prior.Uniform(0.5, 1.5, "x"),
                                              y=bilby.core.prior.Uniform(-10, 10, "y")))
    result = run(tmp_path, likelihood=likelihood, priors=narrow, proposal=student_t(), num_samples=4000,
                 soft_init=True)
    meta = result.meta_data["dingo"]
    assert meta["num_outside_prior"] > 1000
    assert likelihood.calls == 4000 - meta["num_outside_prior"] == result.num_likelihood_evaluations
    outside = ~np.isfinite(result.nested_samples["log_prior"])
    assert np.all(result.nested_samples["weights"][outside] == 0)
    assert result.posterior["x"].between(0.5, 1.5).all()


def test_nonfinite_likelihood_gets_zero_weight_and_is_counted(tmp_path):
    result = run(tmp_path, likelihood=NaNLikelihood(MEAN, COV, threshold=1.5), proposal=student_t(),
                 num_samples=4000, soft_init=True)
    nested = result.nested_samples
    assert result.meta_data["dingo"]["num_nonfinite_likelihood"] == np.count_nonzero(nested["x"] > 1.5) > 0
    assert np.all(nested["weights"][nested["x"] > 1.5] == 0)


def test_same_seed_same_result_and_other_seed_differs(tmp_path):
    first = run(tmp_path / "a", proposal=student_t(), num_samples=3000, sampling_seed=11)
    second = run(tmp_path / "b", proposal=student_t(), num_samples=3000, sampling_seed=11)
    third = run(tmp_path / "c", proposal=student_t(), num_samples=3000, sampling_seed=12)
    np.testing.assert_array_equal(first.nested_samples.to_numpy(), second.nested_samples.to_numpy())
    np.testing.assert_array_equal(first.posterior[["x", "y"]], second.posterior[["x", "y"]])
    assert first.log_evidence == second.log_evidence != third.log_evidence


@pytest.mark.parametrize("seed_keyword", ["sampling_seed", "seed", "random_seed"])
def test_seed_spellings(tmp_path, seed_keyword):
    result = bilby.run_sampler(NormalisedGaussianLikelihood(MEAN, COV), uniform_priors(), sampler="dingo",
                               outdir=str(tmp_path), save=False, proposal=student_t(), num_samples=100,
                               diagnostic_plots=False, **{seed_keyword: 99})
    assert result.meta_data["dingo"]["sampling_seed"] == 99


@pytest.mark.parametrize("pool_keyword", ["npool", "n_pool", "threads", "queue_size"])
def test_pool_size_spellings(tmp_path, pool_keyword):
    # Read by bilby's Sampler; the run below shows what npool does, once.
    sampler = Dingo(NormalisedGaussianLikelihood(MEAN, COV), uniform_priors(), proposal=student_t(), soft_init=True,
                    outdir=str(tmp_path), **{pool_keyword: 2})
    assert sampler.npool == 2


def test_npool_two_equals_npool_one(tmp_path):
    serial = run(tmp_path / "serial", proposal=student_t(), num_samples=3000)
    parallel = run(tmp_path / "parallel", proposal=student_t(), num_samples=3000, npool=2)
    assert parallel.meta_data["dingo"]["npool"] == 2
    np.testing.assert_array_equal(serial.nested_samples.to_numpy(), parallel.nested_samples.to_numpy())
    assert serial.log_evidence == parallel.log_evidence


def test_target_n_eff_is_reached_and_not_on_the_pilot(tmp_path):
    result = run(tmp_path, proposal=student_t(), target_n_eff=3000, batch_size=2000, refine=False)
    meta = result.meta_data["dingo"]
    assert meta["n_eff"] >= 3000
    assert meta["num_batches"] >= 2
    assert meta["num_proposals"] == 2000 * meta["num_batches"]


def test_target_n_eff_stops_at_max_samples(tmp_path):
    result = run(tmp_path, target_n_eff=10_000, max_samples=12_000, batch_size=5000)
    assert result.meta_data["dingo"]["num_proposals"] == 12_000
    assert result.meta_data["dingo"]["n_eff"] < 10_000


def test_pilot_batch_alone_never_stops_the_run(tmp_path):
    # A batch far larger than the target: a rule trusting the pilot would stop after one batch.
    result = run(tmp_path, proposal=student_t(), target_n_eff=100, batch_size=5000)
    assert result.meta_data["dingo"]["num_batches"] == 2


def test_low_efficiency_is_flagged(tmp_path, caplog):
    result = run(tmp_path, proposal="prior", num_samples=2000, refine=False)  # refinement would lift it
    warning = result.meta_data["dingo"]["efficiency_warning"]
    assert "below 1%" in warning and "Likely causes" in warning


def test_too_few_effective_draws_are_flagged_even_at_high_efficiency(tmp_path):
    result = run(tmp_path, proposal=student_t(), num_samples=40)
    meta = result.meta_data["dingo"]
    assert meta["sample_efficiency"] > 0.01 and meta["n_eff"] < 40
    assert "is below 50" in meta["efficiency_warning"] and "target_n_eff" in meta["efficiency_warning"]
    assert "Sample efficiency" not in meta["efficiency_warning"]


def test_plots_are_written(tmp_path):
    run(tmp_path, proposal=student_t(), num_samples=2000, plot=True, label="plotted")
    for name in ["plotted_dingo_weights.png", "plotted_dingo_weight_distribution.png"]:
        assert (tmp_path / name).stat().st_size > 10_000


def test_keyword_log_line_shows_the_proposal_used(tmp_path):
    from tests.unit.test_event_data import Records

    with Records() as records:
        run(tmp_path, proposal=student_t(), num_samples=200, refine=False)
    (keywords,) = [message for _, message in records.messages if message.startswith("Using sampler Dingo")]
    # bilby's own line showed the object's repr ('proposal': <...MultivariateStudentTProposal object at 0x...>).
    assert "'proposal': \"MultivariateStudentTProposal: multivariate Student-t (dof=5) over ['x', 'y']\"" in keywords
    assert " object at 0x" not in keywords
    assert "Proposal: multivariate Student-t (dof=5) over ['x', 'y']" in [message for _, message in records.messages]
