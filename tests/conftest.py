import logging

import bilby
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def seed_everything():
    """Every test starts from the same global random state."""
    np.random.seed(1234)
    bilby.core.utils.random.seed(1234)


@pytest.fixture(autouse=True, scope="session")
def quiet_bilby():
    bilby.core.utils.setup_logger(log_level="WARNING")
    logging.getLogger("bilby").setLevel(logging.WARNING)


TINY_PRIOR = (
    "{chirp_mass: Uniform(name='chirp_mass', minimum=25, maximum=35), "
    "mass_ratio: Uniform(name='mass_ratio', minimum=0.5, maximum=1), chi_1: 0, chi_2: 0, "
    "theta_jn: Sine(name='theta_jn'), phase: Uniform(name='phase', minimum=0, maximum=2 * np.pi, boundary='periodic'), "
    "ra: Uniform(name='ra', minimum=0, maximum=2 * np.pi, boundary='periodic'), dec: Cosine(name='dec'), "
    "psi: Uniform(name='psi', minimum=0, maximum=np.pi, boundary='periodic'), "
    "luminosity_distance: PowerLaw(name='luminosity_distance', alpha=2, minimum=200, maximum=1500)}"
)


def tiny_config_values(**overrides):
    """A training config small enough to train in seconds (shared by the training tests)."""
    values = {
        "label": "micro", "detectors": "[H1, L1]", "duration": "4", "sampling-frequency": "256",
        "minimum-frequency": "20", "maximum-frequency": "100", "waveform-approximant": "IMRPhenomD",
        "prior-dict": TINY_PRIOR, "inference-parameters": "[chirp_mass, mass_ratio, luminosity_distance, geocent_time]",
        "psd-family": "[aLIGO_mid, aLIGO_O4_high]", "num-waveforms": "600", "validation-fraction": "0.1",
        "svd-size": "8", "svd-num-waveforms": "200", "embedding-hidden": "32", "embedding-blocks": "1",
        "context-dim": "16", "flow-transforms": "2", "flow-hidden": "16", "epochs": "3", "batch-size": "64",
        "learning-rate": "2e-3", "device": "cpu", "seed": "3",
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def trained_tiny_model(tmp_path_factory):
    """A model trained once per test session: (trainer, path of the model file)."""
    from bilby_dingo.training.config import TrainingConfig
    from bilby_dingo.training.trainer import Trainer

    outdir = tmp_path_factory.mktemp("tiny_model")
    trainer = Trainer(TrainingConfig.from_dict(tiny_config_values()), outdir=str(outdir))
    trainer.prepare()
    trainer.train()
    return trainer, trainer.paths["model"]
