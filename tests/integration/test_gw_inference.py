"""GW inference with a trained network: bilby.run_sampler(..., sampler="dingo", model=...)."""

import logging

import bilby
import numpy as np
import pytest

from bilby_dingo.proposals import ProposalError
from bilby_dingo.proposals.network import NetworkProposal
from tests.conftest import GW_TRIGGER_TIME, gw_injection_likelihood
from tests.unit.test_event_data import Records


def run(likelihood, priors, model, tmp_path, **kwargs):
    kwargs.setdefault("num_samples", 4000)
    kwargs.setdefault("refine_draws", 2000)  # refinement on (the default), with small rounds to stay fast
    kwargs.setdefault("diagnostic_plots", False)  # plot=True (the end-to-end test) still draws them
    return bilby.run_sampler(likelihood, priors, sampler="dingo", model=model, outdir=str(tmp_path), label="gw",
                             save=False, sampling_seed=3, resume=False, **kwargs)


def test_end_to_end_with_the_network(masses_model, tmp_path):
    likelihood, priors, injection = gw_injection_likelihood()
    result = run(likelihood, priors, masses_model, tmp_path, plot=True)
    meta = result.meta_data["dingo"]
    assert meta["sample_efficiency"] > 0.01, meta
    assert meta["num_outside_prior"] < 4000
    posterior = result.posterior
    assert posterior["chirp_mass"].between(29, 31).all()
    assert abs(np.median(posterior["chirp_mass"]) - injection["chirp_mass"]) < 0.5
    assert {"log_likelihood", "log_prior"} <= set(posterior.columns)
    for name in ["gw_dingo_weights.png", "gw_dingo_weight_distribution.png", "gw_corner.png"]:
        assert (tmp_path / name).exists()


def test_proposal_draws_are_deterministic_and_mapped_to_the_event(masses_model):
    likelihood, priors, _ = gw_injection_likelihood()
    keys = ["chirp_mass", "mass_ratio"]
    proposal = NetworkProposal(masses_model, likelihood, priors, keys)
    first, log_q = proposal.sample_and_log_prob(500, np.random.default_rng(1))
    second, _ = proposal.sample_and_log_prob(500, np.random.default_rng(1))
    np.testing.assert_array_equal(first["chirp_mass"], second["chirp_mass"])
    assert set(first) == set(keys) and np.all(np.isfinite(log_q))
    assert proposal.event.trigger_time == pytest.approx(GW_TRIGGER_TIME)


def test_unlearned_sampled_parameter_is_drawn_from_the_prior(masses_model, tmp_path):
    likelihood, priors, _ = gw_injection_likelihood()
    priors["theta_jn"] = bilby.core.prior.Sine(name="theta_jn")
    proposal = NetworkProposal(masses_model, likelihood, priors, ["chirp_mass", "mass_ratio", "theta_jn"])
    assert proposal.from_prior == ["theta_jn"]
    samples, log_q = proposal.sample_and_log_prob(2000, np.random.default_rng(0))
    assert 0 <= samples["theta_jn"].min() and samples["theta_jn"].max() <= np.pi
    # log q = network part + prior density of theta_jn, exactly
    _, network_log_q, _ = proposal.sample_network(2000, seed=int(np.random.default_rng(0).integers(2**62)))
    np.testing.assert_allclose(log_q - network_log_q, priors["theta_jn"].ln_prob(samples["theta_jn"]), rtol=1e-10)


def test_learned_parameters_fixed_in_the_analysis_are_integrated_out(tmp_path, trained_tiny_model, masses_model):
    """The micro model learns distance and time; an analysis with both fixed treats them as auxiliary. The
    evidence equals that of the same analysis with a model that learned only the sampled masses."""
    _, model = trained_tiny_model
    likelihood, priors, _ = gw_injection_likelihood(sampling_frequency=256.0, maximum_frequency=100.0)
    proposal = NetworkProposal(model, likelihood, priors, ["chirp_mass", "mass_ratio"])
    assert proposal.auxiliary == ["luminosity_distance", "geocent_time"]
    result = run(likelihood, priors, model, tmp_path / "auxiliary", num_samples=3000)
    reference = run(likelihood, priors, masses_model, tmp_path / "masses", num_samples=3000)
    assert result.meta_data["dingo"]["n_eff"] > 50 and reference.meta_data["dingo"]["n_eff"] > 50
    error = np.hypot(result.log_evidence_err, reference.log_evidence_err)
    assert abs(result.log_evidence - reference.log_evidence) < 3 * error, (result.log_evidence, reference.log_evidence,
                                                                           error)


def test_marginalised_likelihood_reconstructs_phase_and_time(masses_model, tmp_path):
    """bilby marginalises phase and time; the proposal covers exactly the remaining search parameters
    (the network's masses, bilby's time_jitter from its prior) and bilby's conversion function
    reconstructs phase and time in the posterior. (Distance marginalisation works the same way; it is
    left out here because bilby's lookup table takes minutes to build.)"""
    _, priors, injection = gw_injection_likelihood()
    priors["phase"] = bilby.core.prior.Uniform(0, 2 * np.pi, "phase", boundary="periodic")
    priors["geocent_time"] = bilby.core.prior.Uniform(GW_TRIGGER_TIME - 0.01, GW_TRIGGER_TIME + 0.01, "geocent_time")
    likelihood, priors, _ = gw_injection_likelihood(priors=priors, phase_marginalization=True,
                                                    time_marginalization=True)
    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", model=masses_model, num_samples=3000, outdir=str(tmp_path), label="marg",
        save=False, sampling_seed=3, resume=False, refine=False,
        conversion_function=bilby.gw.conversion.generate_all_bbh_parameters,
    )
    assert sorted(result.search_parameter_keys) == ["chirp_mass", "mass_ratio", "time_jitter"]
    assert "time_jitter" in result.meta_data["dingo"]["proposal"]
    posterior = result.posterior
    assert posterior["phase"].std() > 0.1
    assert posterior["geocent_time"].std() > 1e-5
    assert abs(np.median(posterior["geocent_time"]) - GW_TRIGGER_TIME) < 0.005
    assert {"mass_1", "mass_2"} <= set(posterior.columns)


@pytest.mark.parametrize(
    "setup, message",
    [
        (dict(detectors=("H1",)), r"The data have detectors \['H1'\], the model was trained for \['H1', 'L1'\]"),
        (dict(duration=8.0), "the data last 8 s, the model was trained on 4 s segments"),
        (dict(sampling_frequency=512.0), "sampling frequency 512 Hz, the model was trained at 256 Hz"),
        (dict(maximum_frequency=80.0), "does not cover the model's band 20-100 Hz"),
        (dict(approximant="IMRPhenomXAS"), "The likelihood uses approximant IMRPhenomXAS"),
    ],
)
def test_mismatches_raise_their_specific_error(masses_model, tmp_path, setup, message):
    likelihood, priors, _ = gw_injection_likelihood(**setup)
    with pytest.raises(ProposalError, match=message):
        run(likelihood, priors, masses_model, tmp_path)


def test_waveform_mismatch_can_be_allowed(masses_model, tmp_path):
    likelihood, priors, _ = gw_injection_likelihood(approximant="IMRPhenomXAS")
    result = run(likelihood, priors, masses_model, tmp_path, allow_waveform_mismatch=True, num_samples=2000)
    assert result.meta_data["dingo"]["n_eff"] > 1


def test_event_time_outside_the_trained_range(masses_model, tmp_path):
    """A time prior with no mass in the trained window (±10 ms here) is refused; overhangs are in
    tests/unit/test_event_data.py."""
    likelihood, priors, _ = gw_injection_likelihood()
    priors["geocent_time"] = bilby.core.prior.Uniform(GW_TRIGGER_TIME + 0.05, GW_TRIGGER_TIME + 0.1, "geocent_time")
    with pytest.raises(ProposalError, match="geocent_time prior spans .* the model covers .* none of it is covered"):
        run(likelihood, priors, masses_model, tmp_path)


def test_prior_beyond_the_training_prior_warns_with_the_uncovered_mass(masses_model, tmp_path):
    likelihood, priors, _ = gw_injection_likelihood()
    priors["chirp_mass"] = bilby.core.prior.Uniform(20, 35, "chirp_mass")
    records = []
    handler = logging.Handler()
    handler.emit = records.append  # bilby's logger does not propagate to pytest's caplog
    logging.getLogger("bilby").addHandler(handler)
    try:
        NetworkProposal(masses_model, likelihood, priors, ["chirp_mass", "mass_ratio"])
    finally:
        logging.getLogger("bilby").removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert any("reaches beyond the model's training prior" in message and "% of its mass" in message
               for message in messages), messages


def test_missing_model_file(tmp_path):
    likelihood, priors, _ = gw_injection_likelihood()
    with pytest.raises(ValueError, match="does not exist"):
        run(likelihood, priors, str(tmp_path / "none.pt"), tmp_path)


def test_the_default_model_serves_gw_data_when_no_model_is_given(masses_model, tmp_path, monkeypatch):
    """With a default model shipped (here: the session's model in its place), sampler="dingo" alone uses it
    for GW data; an explicit proposal="prior" still wins."""
    import bilby_dingo.models

    monkeypatch.setattr(bilby_dingo.models, "DEFAULT_MODEL_FILE", masses_model)
    likelihood, priors, _ = gw_injection_likelihood()
    # refine=False: which proposal serves is under test; refinement rounds would cost 5,000 calls each.
    with Records() as records:
        result = bilby.run_sampler(likelihood, priors, sampler="dingo", num_samples=1000, outdir=str(tmp_path),
                                   label="default", save=False, sampling_seed=3, resume=False, diagnostic_plots=False,
                                   refine=False)
    assert "bilby_dingo network" in result.meta_data["dingo"]["proposal"]
    assert result.sampler_kwargs["model"] == masses_model and result.sampler_kwargs["proposal"] == "network"
    # The keyword log line shows what is used (it said 'proposal': 'prior', 'model': None), and the proposal.
    (keywords,) = [message for _, message in records.messages if message.startswith("Using sampler Dingo")]
    assert "'proposal': 'network'" in keywords and f"'model': '{masses_model}'" in keywords, keywords
    assert any(message.startswith("Proposal: bilby_dingo network") for _, message in records.messages)
    explicit = bilby.run_sampler(likelihood, priors, sampler="dingo", proposal="prior", num_samples=100,
                                 outdir=str(tmp_path), label="prior", save=False, sampling_seed=3, resume=False,
                                 diagnostic_plots=False, refine=False)
    assert "prior" in explicit.meta_data["dingo"]["proposal"].lower() and explicit.sampler_kwargs["proposal"] == "prior"


def test_an_analysis_outside_the_default_models_scope_says_how_to_train_one(masses_model, tmp_path, monkeypatch):
    import bilby_dingo.models

    monkeypatch.setattr(bilby_dingo.models, "DEFAULT_MODEL_FILE", masses_model)
    likelihood, priors, _ = gw_injection_likelihood()
    likelihood.interferometers[0].minimum_frequency += 5  # a band the model does not cover
    with pytest.raises(ProposalError, match=r"(?s)default model was used.*does not cover.*bilby_dingo_train.*model="):
        bilby.run_sampler(likelihood, priors, sampler="dingo", num_samples=100, outdir=str(tmp_path), label="scope",
                          save=False, resume=False, diagnostic_plots=False)


def test_a_bad_psd_is_reported_as_bad_data_not_as_outside_the_models_scope(masses_model, tmp_path, monkeypatch):
    import bilby_dingo.models

    monkeypatch.setattr(bilby_dingo.models, "DEFAULT_MODEL_FILE", masses_model)
    likelihood, priors, _ = gw_injection_likelihood()
    ifo = likelihood.interferometers[1]
    psd = ifo.power_spectral_density_array.copy()
    psd[(ifo.frequency_array > 40) & (ifo.frequency_array < 45)] = np.nan
    ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(frequency_array=ifo.frequency_array,
                                                                        psd_array=psd)
    with pytest.raises(ProposalError, match="L1: the PSD is not finite and positive over the model's band 20-100 Hz. "
                                            "Check the PSD file") as error:
        bilby.run_sampler(likelihood, priors, sampler="dingo", num_samples=100, outdir=str(tmp_path), label="psd",
                          save=False, resume=False, diagnostic_plots=False)
    assert "bilby_dingo_train" not in str(error.value)


def test_analysis_priors_are_the_training_prior_over_the_trained_time_window(gnpe_model):
    from bilby_dingo.models import analysis_priors
    from bilby_dingo.network.model_file import read_model_file

    metadata = read_model_file(gnpe_model)["metadata"]
    priors = analysis_priors(1_300_000_000.0, model=gnpe_model)
    assert priors["geocent_time"].minimum == pytest.approx(1_300_000_000.0 - 0.05)
    assert priors["geocent_time"].maximum == pytest.approx(1_300_000_000.0 + 0.05)
    for key in ("chirp_mass", "mass_ratio"):
        assert str(priors[key]) == metadata["priors"][key]
