"""Embedding network: SVD-initialised projection per detector, then residual blocks.

Input shape (B, n_detectors, 3, n_bins): whitened Re, Im and the scaled inverse ASD (see
``bilby_dingo.simulation.simulator.network_input``). Output shape (B, context_dim).
"""

import numpy as np
import torch
from torch import nn


def svd_basis(whitened_waveforms, size):
    """The first ``size`` right-singular vectors of whitened waveforms, shape (n_bins, size), complex.

    ``whitened_waveforms`` has shape (n_samples, n_bins) (complex); a waveform h is compressed to
    the coefficients V^H h and reconstructed as V V^H h.
    """
    whitened_waveforms = np.asarray(whitened_waveforms)
    size = min(int(size), *whitened_waveforms.shape)
    _, _, vh = np.linalg.svd(whitened_waveforms, full_matrices=False)
    return vh[:size].conj().T


class ResidualBlock(nn.Module):
    """x + W2 σ(W1 σ(LayerNorm x)): keeps deep stacks trainable."""

    def __init__(self, width, dropout=0.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.LayerNorm(width), nn.ELU(), nn.Linear(width, width), nn.ELU(), nn.Dropout(dropout), nn.Linear(width, width)
        )

    def forward(self, x):
        return x + self.layers(x)


class EmbeddingNetwork(nn.Module):
    """Compress the strain of each detector with its own linear layer, then mix with residual blocks.

    Parameters
    ----------
    num_detectors, num_bins: int
    svd_size: int
        K: each detector's first layer maps its 3 × n_bins channels to 2K numbers. Initialised with an
        SVD basis V it outputs (Re, Im) of V^H d̃ — the projection onto the reduced basis — and
        ignores the ASD channel until training finds a use for it.
    hidden, num_blocks, context_dim: int
    """

    def __init__(self, num_detectors, num_bins, svd_size, hidden=256, num_blocks=4, context_dim=64, dropout=0.0):
        super().__init__()
        self.num_detectors, self.num_bins, self.svd_size = num_detectors, num_bins, svd_size
        self.projections = nn.ModuleList([nn.Linear(3 * num_bins, 2 * svd_size) for _ in range(num_detectors)])
        self.mixing = nn.Sequential(
            nn.Linear(2 * svd_size * num_detectors, hidden),
            *[ResidualBlock(hidden, dropout) for _ in range(num_blocks)],
            nn.ELU(),
            nn.Linear(hidden, context_dim),
        )

    def initialise_from_svd(self, basis):
        """Set each detector's first layer to the projection onto ``basis`` (n_bins, K), complex."""
        basis = np.asarray(basis)
        if basis.shape != (self.num_bins, self.svd_size):
            raise ValueError(f"SVD basis has shape {basis.shape}, expected {(self.num_bins, self.svd_size)}.")
        real, imag = basis.real.T, basis.imag.T  # (K, n_bins)
        zeros = np.zeros_like(real)
        # c = V^H d: Re c = Vr·dr + Vi·di, Im c = Vr·di − Vi·dr; the ASD channel starts unused.
        weight = np.block([[real, imag, zeros], [-imag, real, zeros]])
        with torch.no_grad():
            for layer in self.projections:
                layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
                layer.bias.zero_()

    def forward(self, x):
        """x: (B, n_detectors, 3, n_bins) → (B, context_dim)."""
        batch = x.shape[0]
        compressed = [layer(x[:, i].reshape(batch, -1)) for i, layer in enumerate(self.projections)]
        return self.mixing(torch.cat(compressed, dim=1))
