"""Noise: the PSD family, whitening with bilby's inner-product normalisation, white noise.

bilby's inner product is <a|b> = 4 Δf Σ Re(a* b / S). Whitening a frequency series by
sqrt(4 Δf / S) turns it into Σ Re(ã* b̃), and bilby's Gaussian noise (variance S T / 4 in each of
the real and imaginary parts) into independent standard normals in each part.
"""

import os

import bilby.gw.detector
import numpy as np

from ..errors import PSDError

BILBY_NOISE_CURVES = os.path.join(os.path.dirname(bilby.gw.detector.__file__), "noise_curves")


def bilby_curve_names():
    """Names of the PSD/ASD curves bilby ships (without the _psd/_asd suffix and extension)."""
    names = set()
    for filename in os.listdir(BILBY_NOISE_CURVES):
        stem, extension = os.path.splitext(filename)
        if extension == ".txt" and (stem.endswith("_psd") or stem.endswith("_asd")):
            names.add(stem[:-4])
    return sorted(names)


def load_psd(entry, frequencies):
    """The PSD of a family entry on ``frequencies``.

    ``entry`` is a bilby curve name (see :func:`bilby_curve_names`) or a path to a two-column file
    (frequency, value); a file whose name contains 'asd' holds an ASD, otherwise a PSD.
    """
    if os.path.isfile(entry):
        path, is_asd = entry, "asd" in os.path.basename(entry).lower()
    else:
        candidates = [(os.path.join(BILBY_NOISE_CURVES, f"{entry}_{kind}.txt"), kind == "asd") for kind in ("psd", "asd")]
        found = [(path, is_asd) for path, is_asd in candidates if os.path.isfile(path)]
        if not found:
            raise PSDError(
                f"PSD '{entry}' is neither a file nor one of bilby's curves {bilby_curve_names()}."
            )
        path, is_asd = found[0]
    try:
        data = np.loadtxt(path)
    except Exception as error:
        raise PSDError(f"Cannot read the PSD file {path}: {error}") from error
    if data.ndim != 2 or data.shape[1] != 2:
        raise PSDError(f"The PSD file {path} must have two columns (frequency, value).")
    curve_frequencies, values = data[:, 0], data[:, 1] ** 2 if is_asd else data[:, 1]
    low, high = np.min(frequencies), np.max(frequencies)
    if curve_frequencies.min() > low or curve_frequencies.max() < high:
        raise PSDError(
            f"The PSD '{entry}' covers {curve_frequencies.min():g}-{curve_frequencies.max():g} Hz, but the "
            f"analysis band is {low:g}-{high:g} Hz. Use a PSD that covers the band, or narrow "
            f"minimum-frequency/maximum-frequency."
        )
    psd = np.interp(frequencies, curve_frequencies, values)
    if not np.all(np.isfinite(psd)) or np.any(psd <= 0):
        raise PSDError(f"The PSD '{entry}' is not finite and positive over the band {low:g}-{high:g} Hz.")
    return psd


def whitening_factor(psd, duration):
    """sqrt(4 Δf / S): multiplies a frequency series into bilby's whitened units."""
    return np.sqrt(4.0 / (duration * np.asarray(psd)))


def combine_log_psd(log_psds, interpolation, choice, values, log_scale):
    """log S_k + values @ interpolation + log s: the per-bin arithmetic of a PSD-family draw.

    Written with indexing, ``@`` and broadcasting only, so that numpy arrays and torch tensors (the GPU
    simulator's copies of ``log_psds`` and ``interpolation``) both go through it.
    """
    log_psd = log_psds[choice]
    if values is not None:
        log_psd = log_psd + values @ interpolation
    if log_scale is not None:
        log_psd = log_psd + log_scale[..., None]
    return log_psd


class PSDFamily:
    """A family of PSDs with random smooth perturbations, drawn per sample and detector.

    log S = log S_k + δ(f) + log s, with k uniform over the curves, δ a piecewise-linear function of
    log f through ``perturbation_nodes`` normal values of standard deviation ``perturbation_sigma``,
    and s log-uniform in ``scale_range``.

    Parameters
    ----------
    entries: list of str
        bilby curve names or PSD/ASD files.
    frequencies: numpy.ndarray, shape (n_bins,)
    """

    def __init__(self, entries, frequencies, perturbation_sigma=0.1, perturbation_nodes=8, scale_range=(1.0, 1.0)):
        if len(entries) == 0:
            raise PSDError("The PSD family is empty: name at least one bilby curve or PSD file.")
        self.entries = list(entries)
        self.frequencies = np.asarray(frequencies, dtype=float)
        self.log_psds = np.log(np.stack([load_psd(entry, self.frequencies) for entry in self.entries]))
        self.perturbation_sigma = float(perturbation_sigma)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise PSDError(f"psd-scale-range must be two positive numbers, low ≤ high; got {scale_range}.")
        log_f = np.log(self.frequencies)
        nodes = np.linspace(log_f[0], log_f[-1], max(int(perturbation_nodes), 2))
        # Row j: the hat function of node j on the grid, so that δ = values @ interpolation.
        self.interpolation = np.stack([np.interp(log_f, nodes, np.eye(len(nodes))[j]) for j in range(len(nodes))])

    def draw_parameters(self, shape, rng):
        """The random part of a PSD draw, for ``shape`` PSDs.

        Returns (curve index, perturbation node values or None, log scale or None); the per-bin
        arithmetic is :meth:`log_psd_from_parameters` (in numpy here, in torch on a training GPU).
        """
        shape = tuple(np.atleast_1d(shape))
        choice = rng.integers(len(self.entries), size=shape)
        values = None
        if self.perturbation_sigma > 0:
            values = rng.normal(0, self.perturbation_sigma, size=shape + (self.interpolation.shape[0],))
        log_scale = None
        low, high = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        if high > low:
            log_scale = rng.uniform(low, high, size=shape)
        return choice, values, log_scale

    def log_psd_from_parameters(self, choice, values, log_scale):
        """log S = log S_k + δ(f) + log s for :meth:`draw_parameters`' output, shape ``choice.shape + (n_bins,)``."""
        return combine_log_psd(self.log_psds, self.interpolation, choice, values, log_scale)

    def sample_log_psd(self, shape, rng):
        """Draw log PSDs of shape ``shape + (n_bins,)``."""
        return self.log_psd_from_parameters(*self.draw_parameters(shape, rng))

    def reference_asd(self):
        """Geometric mean ASD of the family per bin: the scale of the network's ASD channel."""
        return np.exp(0.5 * self.log_psds.mean(axis=0))
