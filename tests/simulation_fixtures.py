"""Shared small simulation settings for tests (a 4 s, 1024 Hz, 20-512 Hz IMRPhenomD setup)."""

import bilby
import numpy as np

from bilby_dingo.simulation.noise import PSDFamily
from bilby_dingo.simulation.simulator import TrainingDataSimulator
from bilby_dingo.simulation.waveforms import WaveformSettings, generate_polarisations

SETTINGS = WaveformSettings(duration=4.0, sampling_frequency=1024.0, minimum_frequency=20.0, maximum_frequency=512.0,
                            reference_frequency=20.0, waveform_approximant="IMRPhenomD")
REFERENCE_TIME = 1126259462.4
POST_TRIGGER = 2.0
INTRINSIC = dict(chirp_mass=np.array([25.0, 30.0, 35.0]), mass_ratio=np.array([0.9, 0.6, 0.8]),
                 chi_1=np.array([0.1, -0.3, 0.5]), chi_2=np.array([0.0, 0.2, -0.4]),
                 theta_jn=np.array([0.4, 1.5, 2.5]), phase=np.array([0.3, 2.0, 5.0]))


def extrinsic_priors():
    return bilby.core.prior.PriorDict(dict(
        ra=bilby.core.prior.Uniform(0, 2 * np.pi, "ra", boundary="periodic"),
        dec=bilby.core.prior.Cosine(name="dec"),
        psi=bilby.core.prior.Uniform(0, np.pi, "psi", boundary="periodic"),
        luminosity_distance=bilby.core.prior.PowerLaw(2, 300, 2000, "luminosity_distance"),
    ))


def make_simulator(psd_entries=("aLIGO_O4_high",), perturbation_sigma=0.0, inference=("chirp_mass", "ra")):
    plus, cross = generate_polarisations(SETTINGS, INTRINSIC)
    family = PSDFamily(list(psd_entries), SETTINGS.frequencies(), perturbation_sigma=perturbation_sigma)
    return TrainingDataSimulator(
        SETTINGS, bilby.gw.detector.InterferometerList(["H1", "L1"]), plus, cross, INTRINSIC, extrinsic_priors(),
        time_prior_width=0.2, reference_time=REFERENCE_TIME, post_trigger_duration=POST_TRIGGER,
        psd_family=family, inference_parameters=list(inference),
    )


def bilby_interferometers(psd_entry="aLIGO_O4_high"):
    """H1 and L1 with zero-noise data on the simulator's segment and the given bilby curve."""
    import os

    from bilby_dingo.simulation.noise import BILBY_NOISE_CURVES

    ifos = bilby.gw.detector.InterferometerList(["H1", "L1"])
    for ifo in ifos:
        ifo.minimum_frequency, ifo.maximum_frequency = SETTINGS.minimum_frequency, SETTINGS.maximum_frequency
        ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(
            asd_file=os.path.join(BILBY_NOISE_CURVES, f"{psd_entry}_asd.txt"))
    ifos.set_strain_data_from_zero_noise(SETTINGS.sampling_frequency, SETTINGS.duration,
                                         start_time=REFERENCE_TIME + POST_TRIGGER - SETTINGS.duration)
    return ifos
