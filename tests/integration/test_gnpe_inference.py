"""GNPE models as the proposal: chosen from the model file, exact density bookkeeping, stored
proxies and kernel terms, clear errors for bad settings."""

import bilby
import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from bilby_dingo.network.model_file import ModelFileError, load_model
from bilby_dingo.proposals import ProposalError
from bilby_dingo.proposals.factory import network_proposal
from bilby_dingo.proposals.gnpe import GNPEProposal
from bilby_dingo.simulation.time_proxies import network_parameters_from_times, shift_network_input
from tests.conftest import GW_TRIGGER_TIME, gw_injection_likelihood

KEYS = ["chirp_mass", "mass_ratio", "geocent_time"]


def analysis(half_width=0.05, **kwargs):
    likelihood, priors, injection = gw_injection_likelihood(**kwargs)
    priors["geocent_time"] = bilby.core.prior.Uniform(GW_TRIGGER_TIME - half_width, GW_TRIGGER_TIME + half_width,
                                                      "geocent_time")
    return likelihood, priors, injection


def test_the_model_file_selects_gnpe_and_the_density_is_exact(gnpe_model):
    likelihood, priors, _ = analysis()
    proposal = network_proposal(gnpe_model, likelihood, priors, KEYS, gnpe_chains=500, gnpe_iterations=5)
    assert isinstance(proposal, GNPEProposal)
    assert proposal.auxiliary_keys == ["H1_time_proxy", "L1_time_proxy"]
    drawn = proposal.sample(300, np.random.default_rng(4))
    samples, log_q, extras = drawn.samples, drawn.log_prob, drawn.auxiliary
    proxies = np.column_stack([extras["H1_time_proxy"], extras["L1_time_proxy"]])
    # log q(θ, t̂) = log q(t̂) + log q(θ | d shifted by −t̂, t̂), recomputed from the network directly.
    theta = np.column_stack([samples["chirp_mass"], samples["mass_ratio"],
                             samples["geocent_time"] - GW_TRIGGER_TIME - proxies[:, 0]])
    _, relative = network_parameters_from_times(np.zeros(300), proxies)
    shifted = shift_network_input(proposal.inputs, proposal.frequencies, proxies)
    with torch.no_grad():
        log_q_theta = proposal.model.log_prob(torch.from_numpy(theta), shifted, relative).numpy()
    expected = proposal.proxy_density.log_prob(proxies) + log_q_theta
    # Kernel term: log κ = −2 log(2 ms) where every detector time lies within ±1 ms of its proxy, else −inf.
    log_kernel = drawn.log_auxiliary_target
    inside = np.isfinite(log_kernel)
    # Up to single-precision flow arithmetic and the ~1e-7 s rounding of GPS-sized geocent_time values
    # (the time posterior is ~0.1 ms wide, so log q moves by ~1e-3). Checked where the target is non-zero:
    # proxies from q(t̂)'s broad component far from any consistent detector times put the network far
    # outside its training data, where its density is steep enough for the rounding to matter (and unused).
    np.testing.assert_allclose(log_q[inside], expected[inside], atol=5e-3)
    np.testing.assert_allclose(log_kernel[inside], -2 * np.log(0.002))
    times = proposal.analysis_detector_times(samples)
    np.testing.assert_array_equal(inside, np.all(np.abs(proxies - times) <= 0.001, axis=1))
    assert inside.mean() > 0.5


@pytest.mark.slow  # GNPE chains and 4,000 draws: ~1 min on 2 shared cores
def test_gnpe_run_stores_proxies_and_kernel_terms(gnpe_model, tmp_path):
    likelihood, priors, injection = analysis()
    result = bilby.run_sampler(likelihood, priors, sampler="dingo", model=gnpe_model, num_samples=4000,
                               gnpe_chains=1000, gnpe_iterations=10, outdir=str(tmp_path), label="gnpe",
                               save="hdf5", sampling_seed=2, resume=False, diagnostic_plots=False)
    meta = result.meta_data["dingo"]
    assert "GNPE: 10 Gibbs iterations x 1000 chains" in meta["proposal"]
    assert all(value.isascii() for value in meta.values() if isinstance(value, str))  # pesummary writes ASCII
    assert meta["sample_efficiency"] > 0.01
    loaded = bilby.read_in_result(str(tmp_path / "gnpe_result.hdf5"))
    draws = loaded.nested_samples
    # The weights can be recomputed from the file.
    log_w = draws["log_likelihood"] + draws["log_prior"] + draws["log_auxiliary_target"] - draws["log_prob"]
    log_w = np.where(np.isfinite(draws["log_prior"] + draws["log_auxiliary_target"]), log_w, -np.inf)
    np.testing.assert_allclose(draws["log_weights"], log_w, atol=1e-8)
    noise = loaded.log_noise_evidence
    assert loaded.log_evidence == pytest.approx(logsumexp(log_w) - np.log(len(log_w)) + noise, abs=1e-8)
    # Exactly the draws inside the prior and the kernel's support cost a likelihood call, plus the
    # guided start's candidates (those inside the prior and kernel) and the refinement rounds'.
    setup = meta["proposal_setup_likelihood_evaluations"]
    assert 500 < setup <= 2000
    in_support = np.sum(np.isfinite(draws["log_prior"] + draws["log_auxiliary_target"]))
    refinement = meta["refinement_likelihood_evaluations"]
    assert refinement == sum(meta["refinement"]["rounds"]["num_likelihood_evaluations"]) * \
        (not meta["refinement"]["round_zero_draws_reused"])
    assert loaded.num_likelihood_evaluations == setup + in_support + refinement
    assert in_support < meta["num_proposals"]
    assert abs(np.median(loaded.posterior["geocent_time"]) - GW_TRIGGER_TIME) < 0.002
    assert abs(np.median(loaded.posterior["chirp_mass"]) - injection["chirp_mass"]) < 0.5


def test_the_likelihood_guided_start_puts_the_chains_near_the_signal(gnpe_model, tmp_path):
    """With the time free over ±50 ms, the tiny initialisation network places the detector times only to
    several ms; the chains' starts chosen by the likelihood are much closer to the true times."""
    from bilby_dingo.simulation.time_proxies import detector_times

    likelihood, priors, injection = analysis()
    proposal = network_proposal(gnpe_model, likelihood, priors, KEYS, gnpe_chains=200, gnpe_iterations=1,
                                gnpe_guide_draws=500)
    assert 0 < proposal.setup_likelihood_evaluations <= 500  # candidates inside the prior get a call
    true_times = detector_times(proposal.vertices, np.array([injection["ra"]]), np.array([injection["dec"]]),
                                np.array([injection["geocent_time"] - GW_TRIGGER_TIME]), GW_TRIGGER_TIME)[0]
    before = proposal.setup_likelihood_evaluations
    guided = proposal.guided_start_times(likelihood, 2000, seed=3)
    assert 0 < proposal.setup_likelihood_evaluations - before <= 500
    from_init = proposal.initial_times(2000, seed=3)
    error_guided = np.median(np.abs(guided - true_times).max(axis=1))
    error_init = np.median(np.abs(from_init - true_times).max(axis=1))
    assert error_guided < 0.5 * error_init, (error_guided, error_init)
    unguided = network_proposal(gnpe_model, likelihood, priors, KEYS, gnpe_chains=200, gnpe_iterations=1,
                                gnpe_guide_draws=0)
    assert unguided.setup_likelihood_evaluations == 0
    with pytest.raises(ValueError, match="gnpe_guide_draws=-1"):
        bilby.run_sampler(likelihood, priors, sampler="dingo", model=gnpe_model, gnpe_guide_draws=-1, save=False,
                          outdir=str(tmp_path))


class ConstantLikelihood:
    """Stands in for bilby's likelihood in the candidates' weights: log L ratio = 1.5 everywhere."""

    def __init__(self):
        self.calls = 0

    def log_likelihood_ratio(self, parameters=None):
        self.calls += 1
        return 1.5


def test_guided_start_weights_are_the_extended_space_importance_weights(gnpe_model):
    """log w = log L + log π + log κ(t̂ − t(θ)) − log q for every candidate, −inf outside the prior or
    the kernel, and a likelihood call exactly where it is finite."""
    likelihood, priors, _ = analysis()
    proposal = network_proposal(gnpe_model, likelihood, priors, KEYS, gnpe_chains=50, gnpe_iterations=1,
                                gnpe_guide_draws=0)
    initial, log_q_initial = proposal.initial_times(400, seed=1, with_log_prob=True)
    proxies = initial + proposal.kernel.sample(400, np.random.default_rng(2))
    theta, log_q_theta = proposal.conditional_draw(proxies, seed=3)
    log_q = log_q_initial + log_q_theta
    stub = ConstantLikelihood()
    log_weights, times = proposal.candidate_log_weights(stub, theta, proxies, log_q, np.random.default_rng(4))
    samples = proposal.to_event(theta)
    search = {key: samples[key] for key in KEYS}
    expected = (1.5 + np.asarray(priors.ln_prob(search, axis=0)) - log_q
                + proposal.kernel.log_prob(proxies - proposal.analysis_detector_times(search)))
    finite = np.isfinite(expected)
    assert 0 < finite.sum() < 400  # some candidates fall outside the kernel or the prior
    np.testing.assert_array_equal(np.isfinite(log_weights), finite)
    np.testing.assert_allclose(log_weights[finite], expected[finite], rtol=0, atol=1e-9)
    assert stub.calls == finite.sum() == proposal.setup_likelihood_evaluations
    np.testing.assert_allclose(times, proposal.network_detector_times(theta), atol=1e-6)


def test_zero_gibbs_iterations_is_an_error(gnpe_model, tmp_path):
    likelihood, priors, _ = analysis()
    with pytest.raises(ValueError, match="gnpe_iterations=0: GNPE needs at least one Gibbs iteration"):
        bilby.run_sampler(likelihood, priors, sampler="dingo", model=gnpe_model, gnpe_iterations=0,
                          outdir=str(tmp_path), save=False)


def test_a_kernel_wider_than_the_time_prior_is_an_error(gnpe_model):
    likelihood, priors, _ = analysis(half_width=0.0008)
    with pytest.raises(ProposalError, match="kernel ±1 ms is wider than the geocent_time prior"):
        network_proposal(gnpe_model, likelihood, priors, KEYS, gnpe_chains=10, gnpe_iterations=1)


def test_time_marginalisation_is_refused_with_gnpe(gnpe_model):
    _, priors, _ = analysis()
    likelihood, priors, _ = gw_injection_likelihood(priors=priors, time_marginalization=True)
    with pytest.raises(ProposalError, match="turn off bilby's time marginalisation"):
        network_proposal(gnpe_model, likelihood, priors, ["chirp_mass", "mass_ratio", "time_jitter"])


def test_gnpe_model_without_its_initialisation_network(gnpe_model, tmp_path):
    payload = torch.load(gnpe_model, weights_only=True)
    payload["state_dict"] = {key: value for key, value in payload["state_dict"].items()
                             if not key.startswith("gnpe_init.")}
    broken = tmp_path / "no_init.pt"
    torch.save(payload, broken)
    with pytest.raises(ModelFileError, match="GNPE model without its initialisation network"):
        load_model(str(broken))


def test_info_reports_gnpe_settings(gnpe_model, capsys):
    import json

    from bilby_dingo.cli import info_main

    info_main([gnpe_model, "--json"])
    gnpe = json.loads(capsys.readouterr().out)["gnpe"]
    assert gnpe["kernel_half_width"] == 0.001 and gnpe["kernel"] == "uniform"
    assert gnpe["proxy_parameters"] == ["H1_time_proxy", "L1_time_proxy"]
    assert gnpe["fixed_sky"] == {"ra": 1.0, "dec": 0.3}
