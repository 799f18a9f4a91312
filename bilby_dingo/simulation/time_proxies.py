"""GNPE's per-detector time proxies: the kernel, detector arrival times and the data time shift.

Times are relative to the trigger (training: the reference time). For detector I,
t_I = Δt + delay_I(ra, dec), with Δt = geocent_time − trigger; the proxy is t̂_I = t_I + ε_I with
ε_I ~ κ = uniform(−w, w) (DINGO: w = 1 ms). The network sees each detector's data shifted by −t̂_I,
d_I(f) · exp(+2πi f t̂_I), so the signal sits within ±w of the segment's trigger time, and it is
conditioned on the relative proxies t̂_I − t̂_1 (I ≥ 2); the time it learns is Δt − t̂_1. Shifting
every time by the same τ leaves all three unchanged: the network is exactly equivariant.
"""

import numpy as np

from .detector import time_delay_from_geocenter


class UniformTimeKernel:
    """κ(ε) = Π_I uniform(ε_I; −w, w): the proxies' blurring kernel, one factor per detector."""

    def __init__(self, half_width, num_detectors):
        if not half_width > 0:
            raise ValueError(f"The GNPE kernel half-width must be positive, got {half_width}.")
        self.half_width = float(half_width)
        self.num_detectors = int(num_detectors)

    def sample(self, size, rng):
        """ε of shape (size, n_detectors)."""
        return rng.uniform(-self.half_width, self.half_width, (size, self.num_detectors))

    def log_prob(self, residual):
        """log κ(ε) for ε of shape (n, n_detectors): −n_det log 2w inside the box, −inf outside."""
        residual = np.asarray(residual, dtype=float)
        inside = np.all(np.abs(residual) <= self.half_width, axis=-1)
        return np.where(inside, -self.num_detectors * np.log(2 * self.half_width), -np.inf)

    def describe(self):
        return f"uniform +/-{1e3 * self.half_width:g} ms"  # ASCII: stored in result metadata


def detector_times(vertices, ra, dec, time_offset, reference_time):
    """t_I = Δt + delay_I: arrival time at each detector relative to the reference (trigger) time.

    Parameters
    ----------
    vertices: list of numpy.ndarray
        Detector vertices (``Interferometer.geometry.vertex``), in the model's detector order.
    ra, dec, time_offset: numpy.ndarray, shape (n,)
        Sky position in the frame of ``reference_time`` and Δt = geocent_time − reference_time.
    reference_time: float

    Returns
    -------
    numpy.ndarray, shape (n, n_detectors)
    """
    time_offset = np.asarray(time_offset, dtype=float)
    absolute = reference_time + time_offset
    return np.column_stack([time_offset + time_delay_from_geocenter(vertex, ra, dec, absolute)
                            for vertex in vertices])


def network_parameters_from_times(geocent_offset, proxies):
    """(learned time Δt − t̂_1, relative proxies t̂_I − t̂_1 for I ≥ 2) from Δt (n,) and t̂ (n, n_det)."""
    return geocent_offset - proxies[:, 0], proxies[:, 1:] - proxies[:, :1]


def shift_network_input(inputs, frequencies, proxies):
    """Shift each detector's whitened strain by −t̂_I: d_I(f) · exp(+2πi f t̂_I).

    Parameters
    ----------
    inputs: numpy.ndarray or torch.Tensor, shape (n or 1, n_detectors, 3, n_bins)
        Network input (Re, Im, ASD channel); a single event broadcasts over the proxies.
    frequencies: array, shape (n_bins,)
    proxies: array, shape (n, n_detectors)

    Returns an array of the input's kind, shape (n, n_detectors, 3, n_bins); the ASD channel is copied.
    """
    import torch

    as_torch = isinstance(inputs, torch.Tensor)
    proxies = np.asarray(proxies, dtype=float)
    # Phase reduced modulo one cycle in double precision before the single-precision trigonometry.
    cycles = proxies[..., None] * np.asarray(frequencies, dtype=float)
    angle = 2 * np.pi * (cycles - np.floor(cycles))
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    if as_torch:
        cos = torch.from_numpy(cos).to(inputs.device)
        sin = torch.from_numpy(sin).to(inputs.device)
        shifted = inputs.expand(len(proxies), -1, -1, -1).clone()
    else:
        shifted = np.array(np.broadcast_to(inputs, (len(proxies),) + inputs.shape[1:]), dtype=np.float32)
    real, imag = inputs[:, :, 0], inputs[:, :, 1]
    # (a + ib)(cos + i sin) = (a cos − b sin) + i (a sin + b cos)
    shifted[:, :, 0] = real * cos - imag * sin
    shifted[:, :, 1] = real * sin + imag * cos
    return shifted
