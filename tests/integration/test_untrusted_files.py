"""Files from elsewhere are data: reading a model file never runs code from it (issue 14, item 2)."""

import pytest

from bilby_dingo.models import DEFAULT_MODEL_FILE, analysis_priors
from bilby_dingo.network.model_file import atomic_torch_save, read_model_file
from bilby_dingo.prior_strings import PriorStringError


def poisoned_model(tmp_path, marker):
    """The default model with a chirp-mass prior string that bilby's prior parser would execute."""
    payload = read_model_file(DEFAULT_MODEL_FILE)
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    priors = dict(payload["metadata"]["priors"], chirp_mass=f"Uniform(minimum=20, maximum=50, name=[{code}])")
    payload["metadata"] = dict(payload["metadata"], priors=priors)
    path = tmp_path / "poisoned_model.pt"
    atomic_torch_save(payload, str(path))
    return str(path)


def test_analysis_priors_of_a_malicious_model_runs_no_code(tmp_path):
    marker = tmp_path / "MARKER"
    with pytest.raises(PriorStringError, match="cannot be read safely. The prior of 'chirp_mass'"):
        analysis_priors(1126259462.4, model=poisoned_model(tmp_path, marker))
    assert not marker.exists()


def test_pp_of_a_malicious_model_runs_no_code(tmp_path):
    from bilby_dingo.validation.pp import main

    marker = tmp_path / "MARKER"
    with pytest.raises(SystemExit) as exit_info:
        main([poisoned_model(tmp_path, marker), "--num-injections", "2", "--num-samples", "10",
              "--outdir", str(tmp_path / "pp")])
    assert exit_info.value.code == 2
    assert not marker.exists()


class _Touch:
    """Unpickling this creates a marker file: what a malicious pickle in a downloaded file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_pickle_in_a_model_file_runs_no_code(tmp_path):
    import torch

    from bilby_dingo.network.model_file import ModelFileError, load_model

    marker = tmp_path / "MARKER"
    payload = read_model_file(DEFAULT_MODEL_FILE)
    payload["metadata"] = dict(payload["metadata"], training=_Touch(str(marker)))
    path = tmp_path / "malicious_model.pt"
    torch.save(payload, path)  # a model file that is otherwise complete
    with pytest.raises(ModelFileError, match="not a readable bilby_dingo model"):
        load_model(str(path))
    assert not marker.exists()


def test_a_malicious_pickle_in_a_checkpoint_runs_no_code(tmp_path):
    import numpy as np

    from bilby_dingo.importance_sampling.draws import CheckpointError, DrawStore

    marker = tmp_path / "MARKER"
    path = tmp_path / "checkpoint.npz"
    # np.savez pickles an object array: the metadata record becomes code to run on loading.
    np.savez(path, metadata=np.array([_Touch(str(marker))], dtype=object))
    with pytest.raises(CheckpointError, match="Cannot read the checkpoint"):
        DrawStore.load(str(path))
    assert not marker.exists()
