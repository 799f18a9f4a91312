"""The held-out screen of training levers (training.evaluation): its SNRs, log-densities and paired summary."""

import numpy as np
import pytest
import torch

from bilby_dingo.network.model_file import ModelFileError, load_model
from bilby_dingo.training.config import TrainingConfig
from bilby_dingo.training.evaluation import (
    check_model_fits,
    evaluation_batches,
    held_out_log_densities,
    optimal_snr_of_inputs,
    paired_band_summary,
)
from bilby_dingo.training.trainer import Trainer
from tests.conftest import gnpe_config_values
from tests.simulation_fixtures import make_simulator


def test_evaluation_batches_pair_each_noisy_batch_with_the_snr_of_its_own_signals():
    simulator = make_simulator(psd_entries=("aLIGO_O4_high", "aLIGO_mid"), perturbation_sigma=0.1)
    indices = np.array([0, 1, 2, 2, 1, 0, 0])
    (batch, snr), = list(evaluation_batches(simulator, indices, seed=4, batch_size=len(indices)))
    # The twin that gave the SNR drew the same extrinsic parameters and PSDs as the noisy batch.
    twin = simulator.simulate(indices, np.random.default_rng([4, 0]), add_noise=False)
    np.testing.assert_array_equal(batch["theta"], twin["theta"])
    np.testing.assert_array_equal(batch["inputs"][:, :, 2], twin["inputs"][:, :, 2])
    noise = batch["inputs"][:, :, :2] - twin["inputs"][:, :, :2]
    assert noise.std() == pytest.approx(1.0, abs=0.02)  # the difference is the unit-variance noise alone
    np.testing.assert_allclose(snr, np.sqrt(np.sum(twin["inputs"][:, :, :2].astype(float) ** 2, axis=(1, 2, 3))))
    assert optimal_snr_of_inputs(twin["inputs"]).shape == (len(indices),)
    # Batches of another size draw other noise but cover the same samples in order.
    pieces = list(evaluation_batches(simulator, indices, seed=4, batch_size=3))
    assert [len(s) for _, s in pieces] == [3, 3, 1]


@pytest.fixture(scope="module")
def gnpe_evaluation_set(gnpe_model, tmp_path_factory):
    """A fresh set simulated as the GNPE test model's data were (another seed), and that model."""
    values = gnpe_config_values(**{"num-waveforms": "300", "seed": "9", "initial-model": gnpe_model})
    trainer = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path_factory.mktemp("evaluation_set")))
    trainer.prepare()
    model, metadata = load_model(gnpe_model)
    return trainer, model, metadata


def test_held_out_log_densities_are_the_training_loss_in_physical_units(gnpe_evaluation_set):
    trainer, model, _ = gnpe_evaluation_set
    batches = list(evaluation_batches(trainer.simulator, np.arange(300), seed=2, batch_size=100))
    densities = held_out_log_densities(dict(gnpe=model), batches)
    assert densities["snr"].shape == densities["gnpe"]["log_q"].shape == densities["gnpe"]["log_q_init"].shape == (300,)
    # The training loss is the negative mean log-density of standardised θ (plus the initialisation
    # network's, of the detector times): the same numbers up to each flow's constant Jacobian Σ log σ.
    jacobian = torch.log(model.parameter_std).sum().item()
    jacobian_init = torch.log(model.gnpe_init.parameter_std).sum().item()
    with torch.no_grad():
        loss = np.mean([model.loss(**{key: torch.from_numpy(value) for key, value in batch.items()}).item()
                        for batch, _ in batches])
    expected = -np.mean(densities["gnpe"]["log_q"] + jacobian) - np.mean(densities["gnpe"]["log_q_init"] + jacobian_init)
    assert expected == pytest.approx(loss, abs=1e-4)


def test_a_model_for_other_data_is_refused_before_any_evaluation(gnpe_evaluation_set):
    trainer, _, metadata = gnpe_evaluation_set
    check_model_fits(metadata, trainer.metadata(), "gnpe.pt")  # the model the set was built for
    other = dict(metadata, inference_parameters=["chirp_mass", "mass_ratio"])
    with pytest.raises(ModelFileError, match=r"gnpe.pt was trained for other data.*inference_parameters.*--config"):
        check_model_fits(other, trainer.metadata(), "gnpe.pt")


def test_paired_band_summary_differences_and_their_errors():
    snr = np.array([5.0, 8.0, 9.0, 11.9, 12.0, 30.0])
    densities = dict(snr=snr, a=dict(log_q=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
                     b=dict(log_q=np.array([1.5, 2.0, 4.0, 7.0, 5.0, 6.0])))
    summary = paired_band_summary(densities, ["a", "b"], [0, 8, 12, 50])
    assert [row["count"] for row in summary] == [1, 3, 2]  # bands include their lower edge only
    middle = summary[1]
    assert middle["a"] == dict(mean_log_q=3.0)  # the baseline has no difference of its own
    differences = np.array([0.0, 1.0, 3.0])
    assert middle["b"]["difference"] == pytest.approx(differences.mean())
    assert middle["b"]["difference_error"] == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
    assert "difference" not in summary[0]["b"]  # one sample gives no error: no difference reported
    assert paired_band_summary(densities, ["a", "b"], [0, 8, 12, 50], baseline="b")[1]["a"]["difference"] == (
        pytest.approx(-differences.mean()))
