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


def phase_factors(times, frequencies, sign):
    """(cos, sign · sin) of 2π f t, float32 tensors of shape (..., n_bins), for times (...,) and frequencies (n_bins,).

    The phase is reduced modulo one cycle in double precision, then the cosine and sine are taken in single
    precision (the network's precision; a quarter of the time of double-precision trigonometry).
    """
    import torch

    device = times.device if isinstance(times, torch.Tensor) else (
        frequencies.device if isinstance(frequencies, torch.Tensor) else None)
    cycles = (torch.as_tensor(times, dtype=torch.float64, device=device)[..., None]
              * torch.as_tensor(frequencies, dtype=torch.float64, device=device))
    angle = (2 * np.pi * torch.frac(cycles)).to(torch.float32)
    return torch.cos(angle), sign * torch.sin(angle)


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
    tensor = inputs if as_torch else torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    proxies = torch.as_tensor(proxies, dtype=torch.float64, device=tensor.device)
    cos, sin = phase_factors(proxies, frequencies, +1)
    real, imag = tensor[:, :, 0], tensor[:, :, 1]
    # (a + ib)(cos + i sin) = (a cos − b sin) + i (a sin + b cos)
    shifted = torch.stack([real * cos - imag * sin, real * sin + imag * cos,
                           tensor[:, :, 2].expand(len(proxies), -1, -1)], dim=2)
    return shifted if as_torch else shifted.numpy()
