"""q(θ | d, S_n): standardisation, embedding network and a glasflow conditional spline flow."""

import math

import torch
from glasflow.flows import CouplingNSF
from torch import nn

from .embedding import EmbeddingNetwork
from .splines import make_sync_free


class PosteriorModel(nn.Module):
    """The conditional density estimator.

    The flow models standardised parameters z = (θ − μ) / σ; μ and σ are buffers saved with the
    weights, and log q(θ) = log q(z) − Σ log σ.

    A GNPE model (``gnpe_init=True``) is conditioned also on the relative time proxies
    t̂_I − t̂_1 (standardised with their own buffers), and carries its initialisation network
    q_init(t_I | d) as the submodule ``gnpe_init``: one state dict, one file, trained together.

    Parameters
    ----------
    num_parameters, num_detectors, num_bins: int
    network: dict
        ``svd_size``, ``embedding_hidden``, ``embedding_blocks``, ``context_dim``, ``flow_transforms``,
        ``flow_hidden``, ``flow_blocks_per_transform``, ``flow_bins``.
    gnpe_init: bool
    """

    def __init__(self, num_parameters, num_detectors, num_bins, network, gnpe_init=False):
        super().__init__()
        self.num_proxies = num_detectors - 1 if gnpe_init else 0
        self.embedding = EmbeddingNetwork(
            num_detectors, num_bins, network["svd_size"], hidden=network["embedding_hidden"],
            num_blocks=network["embedding_blocks"], context_dim=network["context_dim"],
        )
        self.flow = CouplingNSF(
            n_inputs=num_parameters, n_transforms=network["flow_transforms"],
            n_conditional_inputs=network["context_dim"] + self.num_proxies, n_neurons=network["flow_hidden"],
            n_blocks_per_transform=network["flow_blocks_per_transform"], num_bins=network["flow_bins"],
            tail_bound=5.0,
        )
        # The same spline without host-device synchronisation (network/splines.py): on a GPU glasflow's
        # boolean-mask indexing stops the host ~300 times a training step. Same parameters, same function.
        make_sync_free(self.flow)
        self.register_buffer("parameter_mean", torch.zeros(num_parameters, dtype=torch.float64))
        self.register_buffer("parameter_std", torch.ones(num_parameters, dtype=torch.float64))
        # Scale of the network's ASD channel (see simulation.simulator.network_input), saved with the weights.
        self.register_buffer("reference_asd", torch.ones(num_bins, dtype=torch.float64))
        if gnpe_init:
            self.register_buffer("proxy_mean", torch.zeros(self.num_proxies, dtype=torch.float64))
            self.register_buffer("proxy_std", torch.ones(self.num_proxies, dtype=torch.float64))
            # q_init(t_I | d): the detector times from the unshifted data.
            self.gnpe_init = PosteriorModel(num_detectors, num_detectors, num_bins, network)
        else:
            self.gnpe_init = None

    def set_standardisation(self, mean, std, proxy_mean=None, proxy_std=None):
        self.parameter_mean.copy_(torch.as_tensor(mean, dtype=torch.float64))
        self.parameter_std.copy_(torch.as_tensor(std, dtype=torch.float64))
        if self.num_proxies:
            self.proxy_mean.copy_(torch.as_tensor(proxy_mean, dtype=torch.float64))
            self.proxy_std.copy_(torch.as_tensor(proxy_std, dtype=torch.float64))

    def standardise(self, theta):
        return ((theta.double() - self.parameter_mean) / self.parameter_std).float()

    def context(self, inputs, proxies=None, num_samples=None):
        """Flow context: the embedding of ``inputs`` (B or 1 rows), with the standardised proxies (GNPE)."""
        context = self.embedding(inputs)
        if num_samples is not None and context.shape[0] == 1:
            context = context.expand(num_samples, -1)
        if self.num_proxies:
            if proxies is None:
                raise ValueError("A GNPE network needs the relative time proxies as context.")
            scaled = ((torch.as_tensor(proxies, device=context.device).double() - self.proxy_mean) / self.proxy_std)
            context = torch.cat([context, scaled.float().expand(context.shape[0], -1)], dim=1)
        return context

    def log_prob(self, theta, inputs, proxies=None):
        """log q(θ | d[, t̂]) of physical θ, shape (B, D), given inputs (B, n_det, 3, n_bins) → (B,)."""
        return self.log_prob_in_context(theta, self.context(inputs, proxies, num_samples=theta.shape[0]))

    def log_prob_in_context(self, theta, context):
        """log q(θ | context) for a context from :meth:`context` (one row per θ): several points that share
        their data (and proxies) need one embedding."""
        log_prob = self.flow.log_prob(self.standardise(theta), conditional=context)
        return log_prob.double() - torch.log(self.parameter_std).sum()

    def loss(self, theta, inputs, proxies=None, init_theta=None, init_inputs=None):
        """Negative log-likelihood of standardised θ (the training loss; the Jacobian is constant).

        For GNPE, plus the initialisation network's loss on the detector times ``init_theta``
        from the unshifted data ``init_inputs``.
        """
        loss = -self.flow.log_prob(self.standardise(theta), conditional=self.context(inputs, proxies)).mean()
        if self.gnpe_init is not None:
            loss = loss + self.gnpe_init.loss(init_theta, init_inputs)
        return loss

    @torch.no_grad()
    def sample_and_log_prob(self, inputs, num_samples, proxies=None):
        """Draw θ ~ q(θ | d[, t̂]).

        Parameters
        ----------
        inputs: torch.Tensor, shape (1 or num_samples, n_det, 3, n_bins)
            One event's input (shared by every draw) or one input per draw (GNPE: shifted data).
        num_samples: int
        proxies: torch.Tensor or numpy.ndarray, shape (num_samples, n_det − 1), GNPE only

        Returns
        -------
        theta: torch.Tensor, shape (num_samples, D), float64, physical units
        log_prob: torch.Tensor, shape (num_samples,), float64
        """
        context = self.context(inputs, proxies, num_samples=num_samples)
        z, log_prob = self.flow.sample_and_log_prob(num_samples, conditional=context)
        theta = z.double() * self.parameter_std + self.parameter_mean
        return theta, log_prob.double() - torch.log(self.parameter_std).sum()

    def num_weights(self):
        return sum(math.prod(p.shape) for p in self.parameters())
