"""The training simulator's per-bin work in torch, on the training device (a GPU).

On a GPU the network trains on tens of thousands of samples a second, more than the numpy simulator
produces on a CPU core. Here the per-sample draws (extrinsic parameters, PSD curve, perturbation and
scale, GNPE proxies) and the detector geometry stay in numpy, computed by the numpy simulator's own
code: they are a few numbers per sample. What scales with the number of bins — gathering the stored
polarisations, projecting, time-shifting, whitening, adding noise, GNPE's data shift — runs in torch on
the device that holds the polarisations. The distributions are the numpy simulator's; a test checks
that, given the same draws, the noise-free batches agree to single precision.
"""

import numpy as np
import torch

from .noise import combine_log_psd
from .time_proxies import phase_factors, shift_network_input
from .waveforms import REFERENCE_DISTANCE


class TorchTrainingDataSimulator:
    """Batches of :class:`~bilby_dingo.simulation.simulator.TrainingDataSimulator`, simulated on ``device``.

    Parameters
    ----------
    simulator: TrainingDataSimulator
        Provides the stored polarisations, the priors, the geometry and the PSD family.
    device: str or torch.device
    """

    def __init__(self, simulator, device):
        self.simulator = simulator
        self.device = torch.device(device)
        self.plus = torch.as_tensor(np.asarray(simulator.plus, dtype=np.complex64)).to(self.device)
        self.cross = torch.as_tensor(np.asarray(simulator.cross, dtype=np.complex64)).to(self.device)
        family = simulator.psd_family
        # Double precision where numpy computes in double: the phases f·t (up to ~10^4 cycles) and the PSDs.
        self.frequencies = torch.as_tensor(simulator.projector.frequencies, dtype=torch.float64, device=self.device)
        self.log_psds = torch.as_tensor(family.log_psds, dtype=torch.float64, device=self.device)
        self.node_interpolation = torch.as_tensor(family.interpolation, dtype=torch.float64, device=self.device)
        self.reference_asd = torch.as_tensor(simulator.reference_asd, dtype=torch.float64, device=self.device)
        # sqrt(4 Δf / S) = sqrt(4 / T) · exp(−log S / 2): bilby's whitening (simulation.noise.whitening_factor).
        self.whitening_scale = float(np.sqrt(4.0 / simulator.duration))

    def _tensor(self, array, dtype=None):
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=self.device)

    def log_psd(self, choice, values, log_scale):
        """:meth:`PSDFamily.log_psd_from_parameters` on the device, float64."""
        return combine_log_psd(self.log_psds, self.node_interpolation, self._tensor(choice, torch.long),
                               None if values is None else self._tensor(values, torch.float64),
                               None if log_scale is None else self._tensor(log_scale, torch.float64))

    def phase_factors(self, times, sign):
        """exp(sign · 2πi f t) for times of shape (...,): shape (..., n_bins), complex64.

        As the numpy simulator: the phase is reduced modulo one cycle in double precision before the
        single-precision cosine and sine.
        """
        return torch.complex(*phase_factors(self._tensor(times, torch.float64), self.frequencies, sign))

    def signal_inputs(self, indices, extrinsic, log_psd):
        """Noise-free network input (n, n_detectors, 3, n_bins), float32, and the detector times (n, n_det)."""
        simulator = self.simulator
        f_plus, f_cross, shifts, delays = simulator.projector.projection_coefficients_and_delays(
            extrinsic["ra"], extrinsic["dec"], simulator.reference_time + extrinsic["geocent_time"], extrinsic["psi"])
        ratio = (REFERENCE_DISTANCE / np.asarray(extrinsic["luminosity_distance"], dtype=float))[:, None]
        f_plus = self._tensor((f_plus * ratio).astype(np.float32))[..., None]
        f_cross = self._tensor((f_cross * ratio).astype(np.float32))[..., None]
        rows = self._tensor(indices, torch.long)
        strain = (f_plus * self.plus[rows][:, None] + f_cross * self.cross[rows][:, None]) * self.phase_factors(shifts, -1)
        inverse_asd = torch.exp(-0.5 * log_psd)
        whitened = strain * (self.whitening_scale * inverse_asd).to(torch.float32)
        inputs = torch.stack([whitened.real, whitened.imag, (self.reference_asd * inverse_asd).to(torch.float32)], dim=-2)
        return inputs, extrinsic["geocent_time"][:, None] + delays

    def shift(self, inputs, proxies):
        """GNPE's shift of the strain channels by −t̂_I (as :func:`time_proxies.shift_network_input`)."""
        return shift_network_input(inputs, self.frequencies, self._tensor(proxies, torch.float64))

    def simulate(self, indices, rng, generator, add_noise=True):
        """One batch as the numpy simulator's :meth:`simulate`, as tensors on the device.

        ``rng`` (numpy) draws the per-sample numbers, ``generator`` (torch, on the device) the noise.
        """
        simulator = self.simulator
        indices = np.asarray(indices)
        n, num_detectors = len(indices), len(simulator.projector.names)
        extrinsic = simulator.draw_extrinsic(n, rng)
        log_psd = self.log_psd(*simulator.psd_family.draw_parameters((n, num_detectors), rng))
        inputs, times = self.signal_inputs(indices, extrinsic, log_psd)
        theta = simulator.theta(indices, extrinsic)
        noise = None
        if add_noise:
            # Unit normal in each part of the strain channels (bilby's noise in whitened units); none in the
            # ASD channel.
            noise = torch.zeros_like(inputs)
            noise[:, :, :2] = torch.randn(inputs[:, :, :2].shape, generator=generator, device=self.device)
        batch = dict(theta=theta)
        if simulator.gnpe_kernel is not None:
            # The proxies replace θ's time column by Δt − t̂_1 (in place), as in the numpy simulator.
            proxies, relative_proxies = simulator._draw_proxies(theta, extrinsic, times, rng)
            batch.update(proxies=relative_proxies, init_theta=times)
        batch = {key: torch.from_numpy(np.asarray(value)).to(self.device) for key, value in batch.items()}
        if simulator.gnpe_kernel is None:
            batch["inputs"] = inputs + noise if add_noise else inputs
            return batch
        # White noise is unchanged in distribution by a time shift: shift the signal, then add the same
        # noise draw to both inputs, as the numpy simulator does.
        shifted = self.shift(inputs, proxies)
        batch["inputs"] = shifted + noise if add_noise else shifted
        batch["init_inputs"] = inputs + noise if add_noise else inputs
        return batch
