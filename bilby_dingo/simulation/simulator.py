"""Training data: stored polarisations + fresh extrinsic parameters, PSDs and noise per batch.

The network sees, per detector and frequency bin, three channels (DINGO's input): the real and
imaginary parts of the whitened strain d̃ = d · sqrt(4 Δf / S), and the scaled inverse ASD
ASD_ref / sqrt(S), so that one network serves data with different noise.
"""

import numpy as np

from ..utils import bilby_generator
from .detector import DetectorProjector
from .noise import whitening_factor
from .time_proxies import network_parameters_from_times, shift_network_input
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
    gnpe_kernel: bilby_dingo.simulation.time_proxies.UniformTimeKernel, optional
        GNPE: each batch also carries the time proxies t̂_I = t_I + ε, the data shifted by −t̂_I, the
        learned time Δt − t̂_1 in place of Δt, and for the initialisation network the detector times
        t_I with the unshifted data (see :mod:`bilby_dingo.simulation.time_proxies`).
    """

    def __init__(self, waveform_settings, interferometers, plus, cross, intrinsic_parameters, extrinsic_priors,
                 time_prior_width, reference_time, post_trigger_duration, psd_family, inference_parameters,
                 gnpe_kernel=None):
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
        self.gnpe_kernel = gnpe_kernel

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

    def whitened_signal(self, indices, extrinsic, psd, with_times=False):
        """Noise-free whitened detector strain, shape (n, n_detectors, n_bins), complex64.

        With ``with_times``, also the detector arrival times t_I relative to the reference time, (n, n_det).
        """
        f_plus, f_cross, shifts, delays = self.projector.projection_coefficients_and_delays(
            extrinsic["ra"], extrinsic["dec"], self.reference_time + extrinsic["geocent_time"], extrinsic["psi"])
        strain = self.projector.combine(self.plus[indices], self.cross[indices], f_plus, f_cross, shifts,
                                        distance_ratio=REFERENCE_DISTANCE / extrinsic["luminosity_distance"])
        whitened = strain * whitening_factor(psd, self.duration).astype(np.float32)
        if with_times:
            # Δt + delay directly: no cancellation of GPS-sized numbers (t_ref + Δt − t_ref loses ~1e-7 s).
            return whitened, extrinsic["geocent_time"][:, None] + delays
        return whitened

    def simulate(self, indices, rng, add_noise=True):
        """One batch for the waveforms ``indices``.

        Returns
        -------
        dict of numpy arrays:
            ``inputs`` (n, n_detectors, 3, n_bins) float32 and ``theta`` (n, len(inference_parameters));
            for GNPE also ``proxies`` (n, n_detectors − 1), ``init_inputs`` (unshifted data) and
            ``init_theta`` (n, n_detectors): the detector times.
        """
        indices = np.asarray(indices)
        n = len(indices)
        extrinsic = self.draw_extrinsic(n, rng)
        psd = np.exp(self.psd_family.sample_log_psd((n, len(self.projector.names)), rng))
        whitened, times = self.whitened_signal(indices, extrinsic, psd, with_times=True)
        noise = None
        if add_noise:
            # Unit normal in each part: bilby's noise in whitened units (see simulation.noise).
            noise = np.empty(whitened.shape, dtype=np.complex64)
            noise.real = rng.standard_normal(whitened.shape, dtype=np.float32)
            noise.imag = rng.standard_normal(whitened.shape, dtype=np.float32)
        theta = self.theta(indices, extrinsic)
        if self.gnpe_kernel is None:
            return dict(inputs=network_input(whitened + noise if add_noise else whitened, psd, self.reference_asd),
                        theta=theta)
        proxies, relative_proxies = self._draw_proxies(theta, extrinsic, times, rng)
        # White Gaussian noise is unchanged in distribution by a time shift: shift the signal, add the noise.
        signal_inputs = network_input(whitened, psd, self.reference_asd)
        shifted = shift_network_input(signal_inputs, self.projector.frequencies, proxies)
        init_inputs = signal_inputs
        if add_noise:
            for inputs in (shifted, init_inputs):
                inputs[:, :, 0] += noise.real
                inputs[:, :, 1] += noise.imag
        return dict(inputs=shifted, theta=theta, proxies=relative_proxies, init_inputs=init_inputs, init_theta=times)

    def standardisation_sample(self, indices, rng):
        """What :meth:`simulate` returns, without the data: θ (and GNPE's proxies and times), cheaply."""
        extrinsic = self.draw_extrinsic(len(indices), rng)
        theta = self.theta(indices, extrinsic)
        if self.gnpe_kernel is None:
            return dict(theta=theta)
        *_, delays = self.projector.projection_coefficients_and_delays(
            extrinsic["ra"], extrinsic["dec"], self.reference_time + extrinsic["geocent_time"], extrinsic["psi"])
        times = extrinsic["geocent_time"][:, None] + delays
        _, relative_proxies = self._draw_proxies(theta, extrinsic, times, rng)
        return dict(theta=theta, proxies=relative_proxies, init_theta=times)

    def _draw_proxies(self, theta, extrinsic, times, rng):
        """GNPE: proxies t̂ = t + ε; θ's time column becomes Δt − t̂_1 (in place). Returns (t̂, t̂_I − t̂_1)."""
        proxies = times + self.gnpe_kernel.sample(len(times), rng)
        learned_time, relative_proxies = network_parameters_from_times(extrinsic["geocent_time"], proxies)
        theta[:, self.inference_parameters.index("geocent_time")] = learned_time
        return proxies, relative_proxies

    def theta(self, indices, extrinsic):
        """Inference parameters of waveforms ``indices`` with ``extrinsic`` values, shape (n, D)."""
        parameters = {key: value[indices] for key, value in self.intrinsic_parameters.items()}
        parameters.update(extrinsic)
        return np.column_stack([parameters[key] for key in self.inference_parameters])
