import logging
import os

# One thread per process: torch and the BLAS libraries otherwise start a thread per core (or more) in
# every test process and every pool worker, and on a 2-core machine they fight each other (a GNPE unit
# test took 78-87 s with torch's default threads and 2.8 s with one). Set before torch or numpy's BLAS
# start; subprocesses (the CLI and bilby_pipe tests) inherit the variables.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import bilby  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


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


# A GW problem small enough for the test suite: H1+L1, 4 s at 256 Hz, 20-100 Hz, IMRPhenomD, O4 noise,
# chirp mass and mass ratio free, everything else fixed (training prior and analysis alike).
GW_TRIGGER_TIME = 1126259462.4
GW_INJECTION = dict(chirp_mass=30.0, mass_ratio=0.8, chi_1=0.0, chi_2=0.0, theta_jn=0.4, phase=1.3, ra=1.0, dec=0.3,
                    psi=0.5, luminosity_distance=2000.0)
MASSES_PRIOR = (
    "{chirp_mass: Uniform(name='chirp_mass', minimum=25, maximum=35), "
    "mass_ratio: Uniform(name='mass_ratio', minimum=0.5, maximum=1), "
    + ", ".join(f"{key}: {value}" for key, value in GW_INJECTION.items() if key not in ("chirp_mass", "mass_ratio"))
    + "}"
)


# The mutation check (tests/mutation/run.py) runs pytest once per mutant; it sets this variable so that the
# session models are trained once (by its unmutated baseline run) and reused from this directory. Its mutants
# change inference code, not training, so a model trained before the mutation is the model the tests mean.
MODEL_CACHE_VARIABLE = "BILBY_DINGO_TEST_MODEL_CACHE"


def _train_or_reuse(values, tmp_path_factory, name):
    """Path of a model trained from the config ``values`` (reused from the cache directory when one is set)."""
    import shutil

    from bilby_dingo.training.config import TrainingConfig
    from bilby_dingo.training.trainer import Trainer

    cache = os.environ.get(MODEL_CACHE_VARIABLE)
    cached = os.path.join(cache, f"{name}.pt") if cache else None
    if cached and os.path.isfile(cached):
        return cached
    trainer = Trainer(TrainingConfig.from_dict(values), outdir=str(tmp_path_factory.mktemp(name)))
    trainer.prepare()
    trainer.train()
    if cached:
        os.makedirs(cache, exist_ok=True)
        shutil.copyfile(trainer.paths["model"], cached + ".partial")
        os.replace(cached + ".partial", cached)
        return cached
    return trainer.paths["model"]


@pytest.fixture(scope="session")
def masses_model(tmp_path_factory):
    """A network for (chirp_mass, mass_ratio) with everything else fixed; trained once per session."""
    values = tiny_config_values(**{
        "label": "masses", "prior-dict": MASSES_PRIOR, "inference-parameters": "[chirp_mass, mass_ratio]",
        "deltaT": "0.02", "num-waveforms": "4000", "epochs": "30", "psd-family": "[aLIGO_O4_high]",
        "psd-scale-range": "[0.8, 1.25]", "svd-size": "16", "embedding-hidden": "64", "context-dim": "16",
        "flow-transforms": "3", "flow-hidden": "32", "seed": "5",
    })
    return _train_or_reuse(values, tmp_path_factory, "masses_model")


def gnpe_config_values(**overrides):
    """The config of :func:`gnpe_model` (``overrides`` on top, e.g. for a set simulated like its data)."""
    values = tiny_config_values(**{
        "label": "gnpe", "prior-dict": MASSES_PRIOR, "inference-parameters": "[chirp_mass, mass_ratio, geocent_time]",
        "deltaT": "0.1", "gnpe-time-kernel": "0.001", "num-waveforms": "3000", "epochs": "25",
        "psd-family": "[aLIGO_O4_high]", "psd-scale-range": "[0.8, 1.25]", "svd-size": "32", "embedding-hidden": "64",
        "context-dim": "16", "flow-transforms": "3", "flow-hidden": "32", "seed": "5",
    })
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def gnpe_model(tmp_path_factory):
    """A GNPE network for (chirp_mass, mass_ratio, geocent_time), time prior ±50 ms, kernel ±1 ms,
    with its initialisation network; sky and the rest fixed. Trained once per session."""
    return _train_or_reuse(gnpe_config_values(), tmp_path_factory, "gnpe_model")


def gw_injection_likelihood(seed=11, approximant="IMRPhenomD", detectors=("H1", "L1"), duration=4.0,
                            sampling_frequency=256.0, maximum_frequency=100.0, priors=None, **likelihood_kwargs):
    """Gaussian-noise injection of GW_INJECTION and bilby's GravitationalWaveTransient, plus priors
    (by default chirp mass and mass ratio free, the rest fixed at the injection).

    Given ``priors`` are handed to the likelihood itself (as bilby_pipe does), so that bilby's
    marginalisations fix their parameters in the same object the sampler receives.
    """
    import os

    import bilby

    from bilby_dingo.simulation.noise import BILBY_NOISE_CURVES

    injection = dict(GW_INJECTION, geocent_time=GW_TRIGGER_TIME)
    generator = bilby.gw.WaveformGenerator(
        duration=duration, sampling_frequency=sampling_frequency,
        frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole,
        parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
        waveform_arguments=dict(waveform_approximant=approximant, reference_frequency=20.0, minimum_frequency=20.0,
                                maximum_frequency=maximum_frequency),
    )
    ifos = bilby.gw.detector.InterferometerList(list(detectors))
    for ifo in ifos:
        ifo.minimum_frequency, ifo.maximum_frequency = 20.0, maximum_frequency
        ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(
            asd_file=os.path.join(BILBY_NOISE_CURVES, "aLIGO_O4_high_asd.txt"))
    bilby.core.utils.random.seed(seed)
    ifos.set_strain_data_from_power_spectral_densities(sampling_frequency=sampling_frequency, duration=duration,
                                                       start_time=GW_TRIGGER_TIME + 2 - duration)
    ifos.inject_signal(waveform_generator=generator, parameters=injection)
    if priors is None:
        priors = bilby.gw.prior.BBHPriorDict(dict(injection))
        priors["chirp_mass"] = bilby.core.prior.Uniform(25, 35, "chirp_mass")
        priors["mass_ratio"] = bilby.core.prior.Uniform(0.5, 1, "mass_ratio")
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(ifos, generator, priors=priors, **likelihood_kwargs)
    return likelihood, priors, injection
