"""Training end to end on a tiny config: loss falls, model file round trip, exact resume, CLIs."""

import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from bilby_dingo.cli import _summary
from bilby_dingo.network.model_file import REQUIRED_METADATA, ModelFileError, load_model, read_model_file
from bilby_dingo.training.config import TrainingConfig
from bilby_dingo.training.trainer import Trainer, training_chain
from tests.conftest import TINY_PRIOR, tiny_config_values

BIN = os.path.dirname(sys.executable)


def test_tiny_training_loss_falls(trained_tiny_model):
    trainer, _ = trained_tiny_model
    history = trainer.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.1
    assert history[-1]["validation_loss"] < history[0]["validation_loss"]
    assert os.path.getsize(trainer.paths["plot"]) > 5000
    assert open(trainer.paths["history"]).readline().startswith("epoch,train_loss,validation_loss")


def test_model_file_round_trip_with_weights_only(trained_tiny_model):
    trainer, path = trained_tiny_model
    payload = torch.load(path, weights_only=True)  # never executes code
    assert payload["format"] == "bilby_dingo-model"
    model, metadata = load_model(path)
    best = min(row["validation_loss"] for row in trainer.history)
    assert metadata["training"]["best_validation_loss"] == pytest.approx(best)
    inputs = torch.randn(1, 2, 3, metadata["num_bins"])
    torch.manual_seed(0)
    theta, log_prob = model.sample_and_log_prob(inputs, 50)
    assert theta.shape == (50, 4) and torch.all(torch.isfinite(log_prob))
    for key in REQUIRED_METADATA:
        assert key in metadata
    assert metadata["inference_parameters"] == ["chirp_mass", "mass_ratio", "luminosity_distance", "geocent_time"]
    assert metadata["gnpe"] is None
    assert model.parameter_std.shape == (4,) and model.reference_asd.shape == (metadata["num_bins"],)


def test_truncated_and_foreign_files_are_refused(trained_tiny_model, tmp_path):
    _, path = trained_tiny_model
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(open(path, "rb").read()[:1000])
    with pytest.raises(ModelFileError, match="not a readable bilby_dingo model"):
        load_model(str(truncated))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="not a bilby_dingo model file"):
        read_model_file(str(foreign))
    with pytest.raises(ModelFileError, match="does not exist"):
        read_model_file(str(tmp_path / "missing.pt"))


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    values = tiny_config_values(**{"num-waveforms": "200", "epochs": "2"})
    uninterrupted = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path / "a"))
    uninterrupted.prepare()
    uninterrupted.train()

    first = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path / "b"))
    first.prepare()
    first.train(until_epoch=1)
    resumed = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path / "b"), resume=True)
    resumed.prepare()
    assert resumed.start_epoch == 2
    resumed.train()
    assert [row["train_loss"] for row in resumed.history] == [row["train_loss"] for row in uninterrupted.history]
    for key, value in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def train_stopped_after_one_epoch_and_resumed(values, outdir):
    """A training run stopped after its first epoch, then resumed to the end: the resumed Trainer."""
    first = Trainer(TrainingConfig.from_dict(values), outdir=str(outdir))
    first.prepare()
    first.train(until_epoch=1)
    resumed = Trainer(TrainingConfig.from_dict(values), outdir=str(outdir), resume=True)
    resumed.prepare()
    resumed.train()
    return resumed


def test_torch_simulation_backend_trains_resumes_exactly_and_is_recorded(tmp_path):
    # The GPU path (polarisations and per-bin simulation in torch on the training device), run on the CPU.
    values = tiny_config_values(**{"num-waveforms": "200", "epochs": "2", "simulation-backend": "torch",
                                   "gnpe-time-kernel": "0.001"})
    values.pop("inference-parameters")  # GNPE learns every parameter here, ra and dec among them
    uninterrupted = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path / "a"))
    uninterrupted.prepare()
    assert uninterrupted.device_simulator is not None
    uninterrupted.train()
    assert all(np.isfinite(row["train_loss"]) for row in uninterrupted.history)
    metadata = read_model_file(uninterrupted.paths["model"])["metadata"]
    assert metadata["training"]["simulation_backend"] == "torch"
    assert metadata["training"]["hardware"].startswith("CPU")

    resumed = train_stopped_after_one_epoch_and_resumed(values, tmp_path / "b")
    assert [row["train_loss"] for row in resumed.history] == [row["train_loss"] for row in uninterrupted.history]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_step_trains_as_the_eager_step_and_resumes_exactly(tmp_path):
    # 180 training waveforms in batches of 64: two graph replays and one eager step (52) per epoch.
    # The prior as a file, read by bilby alone: GPU nodes may lack bilby_pipe, which reads prior-dict.
    prior_file = tmp_path / "tiny.prior"
    entries = re.split(r",\s*(?=\w+:)", TINY_PRIOR.strip()[1:-1])
    prior_file.write_text("".join(f"{key.strip()} = {value.strip()}\n"
                                  for key, _, value in (entry.partition(":") for entry in entries)))
    values = tiny_config_values(**{"num-waveforms": "200", "epochs": "2", "simulation-backend": "torch",
                                   "gnpe-time-kernel": "0.001", "device": "cuda", "prior-dict": "None",
                                   "prior-file": str(prior_file)})
    values.pop("inference-parameters")
    trainers = {}
    for mode in ("auto", "off"):
        trainers[mode] = Trainer(TrainingConfig.from_dict({**values, "cuda-graph": mode}), outdir=str(tmp_path / mode))
        trainers[mode].prepare()
        trainers[mode].train()
    graphed, eager = trainers["auto"], trainers["off"]
    assert graphed._graphed_step is not None and eager._graphed_step is None
    assert graphed.measure_throughput(num_batches=2, warm_up=1) > 0
    np.testing.assert_allclose([row["train_loss"] for row in graphed.history],
                               [row["train_loss"] for row in eager.history], rtol=1e-5)
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(graphed.model.state_dict()[key], value, rtol=1e-4, atol=1e-5)

    resumed = train_stopped_after_one_epoch_and_resumed(values, tmp_path / "resumed")
    assert [row["train_loss"] for row in resumed.history] == [row["train_loss"] for row in graphed.history]


def test_initial_model_starts_from_its_weights_and_a_misfit_is_refused(trained_tiny_model, tmp_path):
    _, path = trained_tiny_model
    values = tiny_config_values(**{"initial-model": path, "seed": "11", "epochs": "1"})
    continued = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path / "continued"))
    continued.prepare()
    initial, _ = load_model(path)
    for key, value in initial.state_dict().items():
        torch.testing.assert_close(continued.model.state_dict()[key], value, rtol=0, atol=0)
    continued.train()
    record = read_model_file(continued.paths["model"])["metadata"]["training"]["initial_model"]
    assert record["path"] == os.path.abspath(path) and record["epochs_trained"] == 3
    with open(path, "rb") as stream:
        assert record["sha256"] == hashlib.sha256(stream.read()).hexdigest()
    chain = training_chain(read_model_file(continued.paths["model"])["metadata"]["training"])
    assert [stage["epochs_trained"] for stage in chain] == [1, 3]
    assert chain[1] == read_model_file(path)["metadata"]["training"]
    summary = _summary(read_model_file(continued.paths["model"])["metadata"])  # bilby_dingo_info's lines
    assert re.search(r"trained +: 1 epochs.*\n +continued from +: 3 epochs", summary)

    misfit = Trainer(TrainingConfig.from_dict(tiny_config_values(**{"initial-model": path, "flow-hidden": "24"})),
                     outdir=str(tmp_path / "misfit"))
    with pytest.raises(ModelFileError, match=r"does not fit this config: it differs in \['network'\]"):
        misfit.prepare()


def test_cli_info_json_and_summary(trained_tiny_model):
    _, path = trained_tiny_model
    output = subprocess.run([os.path.join(BIN, "bilby_dingo_info"), path, "--json"], check=True,
                            capture_output=True, text=True).stdout
    metadata = json.loads(output)
    for key in ["detectors", "duration", "sampling_frequency", "minimum_frequency", "maximum_frequency",
                "waveform_approximant", "reference_frequency", "inference_parameters", "priors", "gnpe"]:
        assert key in metadata
    assert metadata["detectors"] == ["H1", "L1"] and metadata["gnpe"] is None
    assert "Uniform" in metadata["priors"]["chirp_mass"]
    summary = subprocess.run([os.path.join(BIN, "bilby_dingo_info"), path], check=True, capture_output=True,
                             text=True).stdout
    assert "IMRPhenomD" in summary and "H1, L1" in summary


def test_cli_info_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "foreign.pt"
    path.write_text("hello")
    process = subprocess.run([os.path.join(BIN, "bilby_dingo_info"), str(path)], capture_output=True, text=True)
    assert process.returncode == 2 and "not a readable bilby_dingo model" in process.stderr


def test_cli_train_help_documents_every_key():
    from bilby_dingo.training.config import KEYS

    output = subprocess.run([os.path.join(BIN, "bilby_dingo_train"), "--help"], check=True, capture_output=True,
                            text=True).stdout
    for key in KEYS:
        assert key.name in output


def test_cli_train_end_to_end(tmp_path):
    config = tmp_path / "micro.ini"
    values = tiny_config_values(**{"num-waveforms": "120", "epochs": "1", "validation-fraction": "0.2"})
    config.write_text("\n".join(f"{key} = {value}" for key, value in values.items()))
    subprocess.run([os.path.join(BIN, "bilby_dingo_train"), str(config), "--outdir", str(tmp_path / "out")],
                   check=True, capture_output=True)
    assert (tmp_path / "out" / "micro_model.pt").exists()
    subprocess.run([os.path.join(BIN, "bilby_dingo_train"), str(config), "--outdir", str(tmp_path / "out"),
                    "--resume"], check=True, capture_output=True)
