"""Refinement through bilby.run_sampler: the result's contents, exactness from the file, refine=False
unchanged, resume after an interrupt, and the network proposals' densities at given points."""

import hashlib

import numpy as np
import pytest
from scipy.special import logsumexp

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.proposals.mixture import BASE_LOG_PROB
from tests.integration.test_sampler import COV, MEAN, run, student_t
from tests.models import CountingLikelihood

BROAD = dict(dof=5.0, scale=25.0)  # a Student-t proposal 5× too wide
REFINE = dict(refine_draws=2000, target_n_eff=3000, batch_size=4000, sampling_seed=3, soft_init=True)


def broad_proposal():
    mean = np.array(list(MEAN.values())) + 0.5
    return MultivariateStudentTProposal(list(MEAN), mean, BROAD["scale"] * COV, dof=BROAD["dof"])


def test_refined_result_is_exact_from_the_file_and_reports_its_rounds(tmp_path):
    likelihood = CountingLikelihood(MEAN, COV)
    result = run(tmp_path, likelihood=likelihood, proposal=broad_proposal(), diagnostic_plots=True, **REFINE)
    meta = result.meta_data["dingo"]
    refinement = meta["refinement"]
    rounds = refinement["rounds"]
    assert refinement["enabled"] and len(rounds["round"]) >= 2 and np.isnan(rounds["beta"][0])
    assert all(0 < beta <= 1 for beta in rounds["beta"][1:])
    assert min(rounds["num_components"][1:]) >= 1 and set(rounds["num_draws"]) == {2000}
    assert meta["sample_efficiency"] >= 5 * rounds["sample_efficiency"][0]
    # Every likelihood call is counted: the rounds' and the final draws'.
    assert result.num_likelihood_evaluations == likelihood.calls
    assert meta["refinement_likelihood_evaluations"] == sum(rounds["num_likelihood_evaluations"])
    # The weights and the evidence from the file's columns alone.
    nested = result.nested_samples
    log_w = np.where(np.isfinite(nested["log_prior"]), nested["log_likelihood"] + nested["log_prior"] - nested["log_prob"],
                     -np.inf)
    np.testing.assert_allclose(log_w, nested["log_weights"])
    assert result.log_evidence == pytest.approx(logsumexp(log_w) - np.log(len(log_w)), abs=1e-12)
    # The defensive bound, from the file: w ≤ L π / (α q₀).
    alpha = 0.1
    bound = nested["log_likelihood"] + nested["log_prior"] - nested[BASE_LOG_PROB] - np.log(alpha)
    inside = np.isfinite(nested["log_weights"])
    assert inside.mean() > 0.5
    assert np.all(nested["log_weights"][inside] <= bound[inside] + 1e-9)
    assert np.isfinite(meta["pareto_k"]) and meta["pareto_k"] < 0.7
    assert abs(result.log_evidence + np.log(400)) < 3 * result.log_evidence_err
    assert (tmp_path / "test_dingo_refinement.png").exists()


def test_refine_false_reproduces_plain_importance_sampling_bit_for_bit(tmp_path):
    """Numbers recorded with bilby_dingo before refinement existed (commit 852c91a), same call."""
    expected = {"prior": (-5.974181689722538, 0.01798575750980244, 710000, 1524, "cda241ee3bb2aa08"),
                "student_t": (-5.998670707729371, 0.004786677470144686, 20000, 9960, "25eb7554bb6dab64")}
    for name, proposal in (("prior", "prior"), ("student_t", student_t(dof=5, scale=2.0))):
        result = run(tmp_path, label=name, proposal=proposal, target_n_eff=3000, sampling_seed=11, refine=False,
                     diagnostic_plots=False)
        draws = np.ascontiguousarray(result.nested_samples[list(MEAN)].to_numpy())
        observed = (result.log_evidence, result.log_evidence_err, len(draws), len(result.posterior),
                    hashlib.sha256(draws.tobytes()).hexdigest()[:16])
        if name == "prior":
            assert observed == expected[name]
        else:  # scipy's Student-t density goes through linear algebra: equal to rounding
            assert observed[2:] == expected[name][2:]
            np.testing.assert_allclose(observed[:2], expected[name][:2], rtol=1e-12)
        assert result.meta_data["dingo"]["refinement"] == dict(enabled=False)


def test_posterior_size_resamples_with_replacement(tmp_path):
    result = run(tmp_path, proposal=student_t(), num_samples=4000, posterior_size=6000, refine=False)
    assert len(result.posterior) == 6000 == result.meta_data["dingo"]["num_posterior_samples"]
    assert result.posterior.duplicated(subset=list(MEAN)).any()
    assert "resampled with replacement" in result.meta_data["dingo"]["unweighting"]
    np.testing.assert_allclose(result.posterior[list(MEAN)].mean(), list(MEAN.values()), atol=0.05)


def test_interrupted_refinement_resumes_to_the_uninterrupted_result(tmp_path):
    reference = run(tmp_path / "reference", likelihood=CountingLikelihood(MEAN, COV), proposal=broad_proposal(),
                    **REFINE)
    # SIGTERM during refinement round 2 (rounds 0 and 1 took 4,000 calls).
    interrupted = CountingLikelihood(MEAN, COV, signal_after=5000)
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path / "run", likelihood=interrupted, proposal=broad_proposal(), exit_code=77, **REFINE)
    assert exit_info.value.code == 77
    assert (tmp_path / "run" / "dingo_test" / "test_refinement.npz").exists()
    resumed_likelihood = CountingLikelihood(MEAN, COV)
    resumed = run(tmp_path / "run", likelihood=resumed_likelihood, proposal=broad_proposal(), **REFINE)
    # Rounds 0 and 1 are not evaluated again.
    assert resumed_likelihood.calls <= reference.num_likelihood_evaluations - 3900
    np.testing.assert_array_equal(resumed.nested_samples.to_numpy(), reference.nested_samples.to_numpy())
    assert resumed.log_evidence == reference.log_evidence
    assert resumed.meta_data["dingo"]["refinement"]["rounds"]["sample_efficiency"] == \
        reference.meta_data["dingo"]["refinement"]["rounds"]["sample_efficiency"]


def test_changing_refine_on_a_checkpoint_is_refused_before_any_work(tmp_path):
    from bilby_dingo.importance_sampling.draws import CheckpointError

    run(tmp_path, proposal=student_t(), num_samples=3000, refine=False, soft_init=True)
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(CheckpointError, match="refine=False"):
        run(tmp_path, likelihood=likelihood, proposal=student_t(), num_samples=3000, soft_init=True)
    assert likelihood.calls == 0


# --- network proposals: the density at given points equals the density reported with the draws -----------


def _check_density_at_draws(proposal, atol):
    drawn = proposal.sample(600, np.random.default_rng(2))
    again = proposal.log_prob(drawn.samples, drawn.auxiliary)
    # Where the target vanishes (GNPE proxies of the broad component far from any consistent detector
    # times: the network is far outside its training data there), the density is not needed.
    relevant = np.ones(len(drawn), bool) if drawn.log_auxiliary_target is None else np.isfinite(drawn.log_auxiliary_target)
    assert relevant.mean() > 0.5
    np.testing.assert_allclose(again[relevant], drawn.log_prob[relevant], rtol=0, atol=atol)
    # The auxiliaries drawn for given θ have the target's density: GNPE's kernel, or none.
    auxiliary, log_auxiliary = proposal.sample_auxiliary(drawn.samples, np.random.default_rng(3))
    assert sorted(auxiliary) == sorted(drawn.auxiliary)
    if log_auxiliary is not None:
        assert np.all(np.isfinite(log_auxiliary))
        np.testing.assert_allclose(log_auxiliary, proposal.log_auxiliary_target(drawn.samples, auxiliary))
    return drawn


def test_network_density_at_given_points(masses_model, trained_tiny_model):
    from bilby_dingo.proposals.factory import network_proposal
    from tests.conftest import gw_injection_likelihood

    likelihood, priors, _ = gw_injection_likelihood()
    proposal = network_proposal(masses_model, likelihood, priors, ["chirp_mass", "mass_ratio"])
    _check_density_at_draws(proposal, atol=1e-4)
    # A model that learned luminosity distance and time, fixed here: they are auxiliaries (folded r).
    _, tiny_path = trained_tiny_model
    tiny = network_proposal(tiny_path, likelihood, priors, ["chirp_mass", "mass_ratio"])
    assert tiny.auxiliary == ["luminosity_distance", "geocent_time"]
    drawn = _check_density_at_draws(tiny, atol=1e-4)
    assert set(drawn.auxiliary) == {"luminosity_distance", "geocent_time"}


def test_gnpe_density_at_given_points(gnpe_model):
    import bilby

    from bilby_dingo.proposals.factory import network_proposal
    from tests.conftest import GW_TRIGGER_TIME, gw_injection_likelihood

    likelihood, priors, _ = gw_injection_likelihood()
    priors["geocent_time"] = bilby.core.prior.Uniform(GW_TRIGGER_TIME - 0.01, GW_TRIGGER_TIME + 0.01, "geocent_time")
    proposal = network_proposal(gnpe_model, likelihood, priors, ["chirp_mass", "mass_ratio", "geocent_time"],
                                gnpe_chains=500, gnpe_iterations=5, gnpe_guide_draws=0)
    # GPS-sized geocent_time values are rounded to ~1e-7 s, and GNPE's time conditional is ~0.1 ms wide: log q
    # at the stored point differs from the draw's by ~1e-3 (as in test_gnpe_inference).
    _check_density_at_draws(proposal, atol=5e-3)


# --- final draws that show the frozen proposal under-covers go back to refinement ------------------------


def test_final_draws_that_undercover_become_refinement_rounds_and_a_resumed_run_agrees(tmp_path, monkeypatch):
    """Forced (any efficiency counts as under-covering): the final draws of two frozen proposals go back to
    refinement as validation rounds, the third frozen proposal's draws are the result, every call is counted,
    the result is exact; interrupted during the last final stage or in the refinement after a validation round, a
    resumed run equals the uninterrupted one."""
    from bilby_dingo.importance_sampling import refinement as refinement_module

    monkeypatch.setattr(refinement_module, "UNDERCOVER_FACTOR", 1e-9)
    settings = dict(REFINE, target_n_eff=8000)  # not reached in a final stage's first two batches
    likelihood = CountingLikelihood(MEAN, COV)
    reference = run(tmp_path / "reference", likelihood=likelihood, proposal=broad_proposal(), **settings)
    meta = reference.meta_data["dingo"]
    refinement = meta["refinement"]
    assert refinement["validation_rounds"] == refinement_module.MAX_VALIDATION_ROUNDS == 2
    rounds = refinement["rounds"]
    validation = [number for number, components in zip(rounds["round"], rounds["num_components"])
                  if number > 0 and components == 0]
    assert len(validation) == 2 and all(np.isnan(rounds["beta"][number]) for number in validation)
    # Each validation round holds a final stage's two batches.
    assert all(rounds["num_draws"][number] == 2 * REFINE["batch_size"] for number in validation)
    assert reference.num_likelihood_evaluations == likelihood.calls
    assert meta["refinement_likelihood_evaluations"] == sum(rounds["num_likelihood_evaluations"])
    assert len(reference.nested_samples) == meta["num_proposals"]
    assert meta["n_eff"] >= settings["target_n_eff"]
    assert abs(reference.log_evidence + np.log(400)) < 3 * reference.log_evidence_err

    # Interrupted in the last final stage, or in the refinement round after the first validation round (where
    # no final run is in progress: nothing may be written back as a checkpoint), a resumed run is the same.
    calls_through = np.cumsum(rounds["num_likelihood_evaluations"])
    for name, signal_after in (("final", reference.num_likelihood_evaluations - 2000),
                               ("after-validation", calls_through[validation[0]] + REFINE["refine_draws"] // 2)):
        interrupted = CountingLikelihood(MEAN, COV, signal_after=int(signal_after))
        with pytest.raises(SystemExit):
            run(tmp_path / name, likelihood=interrupted, proposal=broad_proposal(), exit_code=77, **settings)
        resumed = run(tmp_path / name, likelihood=CountingLikelihood(MEAN, COV), proposal=broad_proposal(), **settings)
        np.testing.assert_array_equal(resumed.nested_samples.to_numpy(), reference.nested_samples.to_numpy())
        assert resumed.num_likelihood_evaluations == reference.num_likelihood_evaluations
        resumed_rounds = resumed.meta_data["dingo"]["refinement"]["rounds"]
        for column in ("sample_efficiency", "num_draws", "num_likelihood_evaluations", "num_components"):
            assert resumed_rounds[column] == rounds[column], (name, column)
