"""Training data: stored polarisations + fresh extrinsic parameters, PSDs and noise per batch.

The network sees, per detector and frequency bin, three channels (DINGO's input): the real and
imaginary parts of the whitened strain d̃ = d · sqrt(4 Δf / S), and the scaled inverse ASD
ASD_ref / sqrt(S), so that one network serves data with different noise.
"""

import numpy as np

from ..proposals.prior import bilby_generator
from .detector import DetectorProjector
from .noise import whitening_factor
from .waveforms import REFERENCE_DISTANCE

EXTRINSIC_PARAMETERS = ("ra", "dec", "psi", "luminosity_distance")


def network_input(whitened_strain, psd, reference_asd):
    """Stack the channels: shape (..., n_detectors, 3, n_bins), float32.

    Parameters
    ----------
    whitened_strain: complex array, shape (..., n_detectors, n_bins)
    psd: array, shape (..., n_detectors, n_bins)
    reference_asd: array, shape (n_bins,)
    """
    inputs = np.empty(whitened_strain.shape[:-1] + (3, whitened_strain.shape[-1]), dtype=np.float32)
    inputs[..., 0, :] = whitened_strain.real
    inputs[..., 1, :] = whitened_strain.imag
    inputs[..., 2, :] = reference_asd / np.sqrt(psd)
    return inputs


class TrainingDataSimulator:
    """Simulates (θ, network input) pairs exactly as bilby would see the data.

    Parameters
    ----------
    waveform_settings: bilby_dingo.simulation.waveforms.WaveformSettings
    interferometers: bilby.gw.detector.InterferometerList
    plus, cross: numpy.ndarray, shape (n_waveforms, n_bins), complex
        Polarisations at :data:`REFERENCE_DISTANCE`.
    intrinsic_parameters: dict[str, numpy.ndarray]
        The parameters the polarisations were generated with, each of shape (n_waveforms,).
    extrinsic_priors: bilby.core.prior.PriorDict
        Priors of ra, dec, psi and luminosity_distance.
    time_prior_width: float
        Δt = geocent_time − trigger time is uniform in ±width/2 (bilby_pipe's deltaT).
    reference_time: float
        GPS time the training data are projected at (t_ref + Δt).
    post_trigger_duration: float
        Seconds of data after the trigger (bilby_pipe's convention: segment start =
        trigger + post_trigger_duration − duration).
    psd_family: bilby_dingo.simulation.noise.PSDFamily
    inference_parameters: list of str
    """

    def __init__(self, waveform_settings, interferometers, plus, cross, intrinsic_parameters, extrinsic_priors,
                 time_prior_width, reference_time, post_trigger_duration, psd_family, inference_parameters):
        self.settings = waveform_settings
        self.duration = waveform_settings.duration
        self.plus, self.cross = plus, cross
        self.intrinsic_parameters = intrinsic_parameters
        self.extrinsic_priors = extrinsic_priors
        self.time_prior_width = float(time_prior_width)
        self.reference_time = float(reference_time)
        segment_start = self.reference_time + post_trigger_duration - self.duration
        self.projector = DetectorProjector(interferometers, waveform_settings.frequencies(), segment_start)
        self.psd_family = psd_family
        self.reference_asd = psd_family.reference_asd()
        self.inference_parameters = list(inference_parameters)

    @property
    def num_waveforms(self):
        return self.plus.shape[0]

    def draw_extrinsic(self, size, rng):
        """Extrinsic parameters: ra, dec, psi, luminosity_distance from the prior; geocent_time = Δt."""
        with bilby_generator(rng):
            drawn = self.extrinsic_priors.sample_subset(list(EXTRINSIC_PARAMETERS), size=size)
        extrinsic = {key: np.asarray(drawn[key], dtype=float) for key in EXTRINSIC_PARAMETERS}
        extrinsic["geocent_time"] = rng.uniform(-self.time_prior_width / 2, self.time_prior_width / 2, size)
        return extrinsic

    def whitened_signal(self, indices, extrinsic, psd):
        """Noise-free whitened detector strain, shape (n, n_detectors, n_bins), complex64."""
        strain = self.projector.project(
            self.plus[indices], self.cross[indices],
            extrinsic["ra"], extrinsic["dec"], self.reference_time + extrinsic["geocent_time"], extrinsic["psi"],
            distance_ratio=REFERENCE_DISTANCE / extrinsic["luminosity_distance"],
        )
        return strain * whitening_factor(psd, self.duration).astype(np.float32)

    def simulate(self, indices, rng, add_noise=True):
        """One batch for the waveforms ``indices``.

        Returns
        -------
        inputs: numpy.ndarray, shape (n, n_detectors, 3, n_bins), float32
        theta: numpy.ndarray, shape (n, len(inference_parameters)), float64
        """
        indices = np.asarray(indices)
        n = len(indices)
        extrinsic = self.draw_extrinsic(n, rng)
        psd = np.exp(self.psd_family.sample_log_psd((n, len(self.projector.names)), rng))
        whitened = self.whitened_signal(indices, extrinsic, psd)
        if add_noise:
            # Unit normal in each part: bilby's noise in whitened units (see simulation.noise).
            whitened.real += rng.standard_normal(whitened.shape, dtype=np.float32)
            whitened.imag += rng.standard_normal(whitened.shape, dtype=np.float32)
        return network_input(whitened, psd, self.reference_asd), self.theta(indices, extrinsic)

    def theta(self, indices, extrinsic):
        """Inference parameters of waveforms ``indices`` with ``extrinsic`` values, shape (n, D)."""
        parameters = {key: value[indices] for key, value in self.intrinsic_parameters.items()}
        parameters.update(extrinsic)
        return np.column_stack([parameters[key] for key in self.inference_parameters])
