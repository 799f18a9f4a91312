"""The shipped default model loads and is what README's "The default model" table says it is."""

import os

import numpy as np
import pytest
import torch

from bilby_dingo.models import DEFAULT_MODEL_FILE, analysis_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.training.trainer import training_chain

pytestmark = pytest.mark.skipif(not os.path.isfile(DEFAULT_MODEL_FILE), reason="no default model shipped")


@pytest.fixture(scope="module")
def default_model():
    return load_model(DEFAULT_MODEL_FILE)


def test_scope_matches_the_readme(default_model):
    _, metadata = default_model
    assert metadata["detectors"] == ["H1", "L1"]
    assert (metadata["duration"], metadata["sampling_frequency"]) == (4.0, 512.0)
    assert (metadata["minimum_frequency"], metadata["maximum_frequency"]) == (20.0, 256.0)
    assert metadata["post_trigger_duration"] == 2.0 and metadata["deltaT"] / 2 == pytest.approx(0.1)
    assert (metadata["waveform_approximant"], metadata["reference_frequency"]) == ("IMRPhenomD", 20.0)
    bounds = metadata["prior_bounds"]
    assert bounds["chirp_mass"] == [20.0, 50.0] and bounds["mass_ratio"] == [0.25, 1.0]
    assert bounds["chi_1"] == bounds["chi_2"] == [-0.99, 0.99]
    assert "AlignedSpin" in metadata["priors"]["chi_1"]
    assert "UniformSourceFrame(minimum=100.0, maximum=3000.0" in metadata["priors"]["luminosity_distance"]
    family = metadata["psd_family"]
    assert family["entries"] == ["aLIGO_early", "aLIGO_mid", "aLIGO_late", "aLIGO_O4_high"]
    assert family["perturbation_sigma"] == 0.1 and family["scale_range"] == [0.5, 2.0]
    assert metadata["inference_parameters"] == ["chirp_mass", "mass_ratio", "chi_1", "chi_2", "theta_jn", "psi", "ra",
                                                "dec", "geocent_time"]  # not distance, not phase
    assert metadata["gnpe"]["kernel_half_width"] == 0.001
    # v2: v1 (trained from the ini alone on a CPU) continued twice on a GPU with 1M louder waveforms
    v2e, v2d, v1 = training_chain(metadata["training"])
    assert [stage["epochs_trained"] for stage in (v2e, v2d, v1)] == [11, 33, 99]
    assert v1["config"]["num_waveforms"] == 100_000 and v1["config"]["epochs"] == 100
    assert v1["best_validation_loss"] == pytest.approx(0.9345, abs=5e-5)
    for stage in (v2e, v2d):
        assert stage["config"]["num_waveforms"] == 1_000_000 and stage["config"]["batch_size"] == 4096
        assert stage["config"]["training_distance_prior"].startswith("Uniform(name='luminosity_distance'")
    assert v2e["best_validation_loss"] == pytest.approx(-1.4142, abs=5e-5)


def test_size_matches_the_readme(default_model):
    model, _ = default_model
    assert model.num_weights() == pytest.approx(5.3e6, rel=0.01)
    assert os.path.getsize(DEFAULT_MODEL_FILE) / 1e6 == pytest.approx(21, abs=0.5)


def test_the_default_model_draws_inside_its_training_prior(default_model):
    """Both networks run on an input of the model's shape; draws are finite, their densities finite."""
    model, metadata = default_model
    inputs = torch.zeros(1, 2, 3, metadata["num_bins"])
    inputs[:, :, 2] = 1.0  # the ASD channel of the reference noise
    torch.manual_seed(0)
    with torch.no_grad():
        times, log_q_init = model.gnpe_init.sample_and_log_prob(inputs, 64)
        theta, log_q = model.sample_and_log_prob(inputs, 64, proxies=torch.zeros(64, 1))
    assert theta.shape == (64, 9) and times.shape == (64, 2)
    assert torch.all(torch.isfinite(log_q)) and torch.all(torch.isfinite(log_q_init))
    priors = analysis_priors(1_300_000_000.0)
    assert priors["geocent_time"].maximum - priors["geocent_time"].minimum == pytest.approx(0.2)
    chirp_mass = theta[:, 0].numpy()
    assert np.mean((chirp_mass > 20) & (chirp_mass < 50)) > 0.9


def test_network_density_sums_the_ra_images_a_draw_wraps_onto(default_model, tmp_path):
    """ra is the network's draw modulo 2π: where the sky posterior reaches ra = 0 = 2π, two raw values land on one
    point and q there is the sum of both images' densities (reporting one over-weighted those draws: +0.55 in log Z
    on this injection, docs/validation.md)."""
    from bilby_dingo.models import default_distance_lookup_table, training_priors
    from bilby_dingo.proposals.factory import network_proposal
    from bilby_dingo.validation.pp import simulate_event_in_snr_band

    model, metadata = default_model
    # Survey injection 1: SNR 15.9, ra 0.019 at the event, about 0.002 at the model's reference time.
    likelihood, analysis, injection, _, _ = simulate_event_in_snr_band(
        metadata, training_priors(metadata), 1, 0, (12.0, 50.0), ["distance", "phase"],
        default_distance_lookup_table(str(tmp_path / "lookup.npz")))
    keys = [key for key in metadata["inference_parameters"] if not analysis[key].is_fixed]
    proposal = network_proposal(DEFAULT_MODEL_FILE, likelihood, analysis, keys, loaded_model=default_model,
                                gnpe_chains=1000, gnpe_iterations=10, gnpe_guide_draws=500, seed=1)
    drawn = proposal.sample(3000, np.random.default_rng(4))
    relevant = np.isfinite(drawn.log_auxiliary_target)
    again = proposal.log_prob(drawn.samples, drawn.auxiliary)
    np.testing.assert_allclose(again[relevant], drawn.log_prob[relevant], rtol=0, atol=5e-3)
    # The canonical image alone (ra in [0, 2π) at the reference time) under-states q near the wrap point.
    theta = proposal.to_network(drawn.samples, drawn.auxiliary)
    canonical = proposal.network_log_prob(theta, drawn.auxiliary)
    near = relevant & (np.minimum(drawn.samples["ra"], 2 * np.pi - drawn.samples["ra"]) < 0.2)
    assert near.sum() > 100
    assert np.all(drawn.log_prob[relevant] >= canonical[relevant] - 5e-3)
    assert np.mean(drawn.log_prob[near] - canonical[near]) > 0.1
