"""q(θ | d, S_n): standardisation, embedding network and a glasflow conditional spline flow."""

import math

import torch
from glasflow.flows import CouplingNSF
from torch import nn

from .embedding import EmbeddingNetwork


class PosteriorModel(nn.Module):
    """The conditional density estimator.

    The flow models standardised parameters z = (θ − μ) / σ; μ and σ are buffers saved with the
    weights, and log q(θ) = log q(z) − Σ log σ.

    Parameters
    ----------
    num_parameters, num_detectors, num_bins: int
    network: dict
        ``svd_size``, ``embedding_hidden``, ``embedding_blocks``, ``context_dim``, ``flow_transforms``,
        ``flow_hidden``, ``flow_blocks_per_transform``, ``flow_bins``.
    """

    def __init__(self, num_parameters, num_detectors, num_bins, network):
        super().__init__()
        self.embedding = EmbeddingNetwork(
            num_detectors, num_bins, network["svd_size"], hidden=network["embedding_hidden"],
            num_blocks=network["embedding_blocks"], context_dim=network["context_dim"],
        )
        self.flow = CouplingNSF(
            n_inputs=num_parameters, n_transforms=network["flow_transforms"],
            n_conditional_inputs=network["context_dim"], n_neurons=network["flow_hidden"],
            n_blocks_per_transform=network["flow_blocks_per_transform"], num_bins=network["flow_bins"],
            tail_bound=5.0,
        )
        self.register_buffer("parameter_mean", torch.zeros(num_parameters, dtype=torch.float64))
        self.register_buffer("parameter_std", torch.ones(num_parameters, dtype=torch.float64))
        # Scale of the network's ASD channel (see simulation.simulator.network_input), saved with the weights.
        self.register_buffer("reference_asd", torch.ones(num_bins, dtype=torch.float64))

    def set_standardisation(self, mean, std):
        self.parameter_mean.copy_(torch.as_tensor(mean, dtype=torch.float64))
        self.parameter_std.copy_(torch.as_tensor(std, dtype=torch.float64))

    def standardise(self, theta):
        return ((theta.double() - self.parameter_mean) / self.parameter_std).float()

    def log_prob(self, theta, inputs):
        """log q(θ | d) of physical parameters θ, shape (B, D), given inputs (B, n_det, 3, n_bins) → (B,)."""
        context = self.embedding(inputs)
        log_prob = self.flow.log_prob(self.standardise(theta), conditional=context)
        return log_prob.double() - torch.log(self.parameter_std).sum()

    def loss(self, theta, inputs):
        """Negative log-likelihood of standardised θ (the training loss; the Jacobian is constant)."""
        context = self.embedding(inputs)
        return -self.flow.log_prob(self.standardise(theta), conditional=context).mean()

    @torch.no_grad()
    def sample_and_log_prob(self, inputs, num_samples):
        """Draw θ ~ q(θ | d) for one event.

        Parameters
        ----------
        inputs: torch.Tensor, shape (1, n_det, 3, n_bins)
        num_samples: int

        Returns
        -------
        theta: torch.Tensor, shape (num_samples, D), float64, physical units
        log_prob: torch.Tensor, shape (num_samples,), float64
        """
        context = self.embedding(inputs).expand(num_samples, -1)
        z, log_prob = self.flow.sample_and_log_prob(num_samples, conditional=context)
        theta = z.double() * self.parameter_std + self.parameter_mean
        return theta, log_prob.double() - torch.log(self.parameter_std).sum()

    def num_weights(self):
        return sum(math.prod(p.shape) for p in self.parameters())
