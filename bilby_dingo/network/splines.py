r"""The rational-quadratic spline coupling of glasflow's flows, evaluated without host-device waits.

glasflow evaluates its splines only where an input lies inside [−B, B], through boolean-mask indexing
guarded by ``torch.any`` and a domain check. On a GPU each of these makes the host wait for the device
(a mask's size must reach the host): about ten waits per coupling transform, ~300 per training step of
the default model, so that a step lasts as long as the host's kernel launches plus the device's work.

Here every input is evaluated, clamped into [−B, B], and ``torch.where`` keeps the identity (linear tails,
log-Jacobian 0) outside. The parameterisation is the one glasflow's state dict means (same function, same
weights), written from the spline's definition (Durkan et al. 2019, "Neural Spline Flows", eqs. 4–6):

- K bins; bin widths and heights are softmaxes of the network's outputs, each floored at a minimum share
  m (``w = m + (1 − K m) softmax``), placed on [−B, B] as knot positions (cumulative sums, the ends set
  exactly); the widths and heights used are differences of those knots, so that they add up exactly;
- the derivatives at the K − 1 inner knots are ``m_d + softplus(u)``; at ±B they are 1, matching the tails;
- in bin k with knots (x_k, y_k), width w_k, height h_k, slope s_k = h_k / w_k, end derivatives d_k,
  d_{k+1} and ξ = (x − x_k) / w_k:

.. math::
    y = y_k + h_k \frac{s_k ξ^2 + d_k ξ(1 − ξ)}{s_k + c_k ξ(1 − ξ)}, \qquad
    \frac{dy}{dx} = s_k^2 \frac{d_{k+1} ξ^2 + 2 s_k ξ(1 − ξ) + d_k (1 − ξ)^2}{(s_k + c_k ξ(1 − ξ))^2},

  with c_k = d_k + d_{k+1} − 2 s_k. The inverse solves that quadratic in ξ for given y, taking the root in
  [0, 1] in its numerically stable form.

A test checks values, gradients and samples against glasflow's own transform.
"""

import math

import torch
from glasflow.nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
from glasflow.nflows.transforms.splines.rational_quadratic import (
    DEFAULT_MIN_BIN_HEIGHT,
    DEFAULT_MIN_BIN_WIDTH,
    DEFAULT_MIN_DERIVATIVE,
)
from torch.nn import functional


def _softmax(unnormalised):
    """Softmax over the last axis, written out: torch's CPU kernel takes ~20 ns per element on an axis of
    a few bins (several times exp, sum and divide together). The shift by the maximum is a constant of the
    function (no gradient flows through it)."""
    exponentials = torch.exp(unnormalised - unnormalised.amax(dim=-1, keepdim=True).detach())
    return exponentials / exponentials.sum(dim=-1, keepdim=True)


def _knots(unnormalised, minimum_share, bound):
    """Knot positions (..., K + 1) on [−bound, bound] and the bin sizes (..., K) between them."""
    num_bins = unnormalised.shape[-1]
    shares = minimum_share + (1 - minimum_share * num_bins) * _softmax(unnormalised)
    inner = -bound + 2 * bound * torch.cumsum(shares, dim=-1)[..., :-1]
    ends = torch.full_like(shares[..., :1], bound)
    knots = torch.cat([-ends, inner, ends], dim=-1)
    return knots, knots[..., 1:] - knots[..., :-1]


def _at_bin(values, index):
    return values.gather(-1, index)[..., 0]


def spline_with_linear_tails(inputs, unnormalised_widths, unnormalised_heights, unnormalised_inner_derivatives,
                             inverse=False, bound=1.0, min_bin_width=DEFAULT_MIN_BIN_WIDTH,
                             min_bin_height=DEFAULT_MIN_BIN_HEIGHT, min_derivative=DEFAULT_MIN_DERIVATIVE):
    """(outputs, log |d outputs / d inputs|) of the spline on [−bound, bound], the identity outside it.

    ``unnormalised_widths`` and ``unnormalised_heights`` have K entries per input on their last axis,
    ``unnormalised_inner_derivatives`` K − 1 (the derivatives at the inner knots).
    """
    if min(min_bin_width, min_bin_height) * unnormalised_widths.shape[-1] > 1:
        raise ValueError("The minimum bin width or height times the number of bins exceeds the interval.")
    x_knots, widths = _knots(unnormalised_widths, min_bin_width, bound)
    y_knots, heights = _knots(unnormalised_heights, min_bin_height, bound)
    ones = torch.ones_like(unnormalised_inner_derivatives[..., :1])
    derivatives = torch.cat([ones, min_derivative + functional.softplus(unnormalised_inner_derivatives), ones], dim=-1)

    inside = (inputs >= -bound) & (inputs <= bound)
    clamped = inputs.clamp(-bound, bound)
    # The bin: the number of inner knots at or below the input (the input side's knots).
    inner_knots = (y_knots if inverse else x_knots)[..., 1:-1].contiguous()
    index = torch.searchsorted(inner_knots, clamped[..., None].contiguous(), right=True)
    x_k, y_k = _at_bin(x_knots, index), _at_bin(y_knots, index)
    width, height = _at_bin(widths, index), _at_bin(heights, index)
    d_left, d_right = _at_bin(derivatives, index), _at_bin(derivatives[..., 1:], index)
    slope = height / width
    curvature = d_left + d_right - 2 * slope

    if inverse:
        offset = clamped - y_k
        a = height * (slope - d_left) + offset * curvature
        b = height * d_left - offset * curvature
        c = -slope * offset
        xi = 2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp_min(0)))
        outputs = x_k + xi * width
    else:
        xi = (clamped - x_k) / width
    mixed = xi * (1 - xi)
    denominator = slope + curvature * mixed
    log_derivative = (2 * torch.log(slope) + torch.log(d_right * xi * xi + 2 * slope * mixed + d_left * (1 - xi) ** 2)
                      - 2 * torch.log(denominator))
    if inverse:
        log_derivative = -log_derivative
    else:
        outputs = y_k + height * (slope * xi * xi + d_left * mixed) / denominator
    return torch.where(inside, outputs, inputs), torch.where(inside, log_derivative, torch.zeros_like(log_derivative))


class SyncFreeRationalQuadraticCouplingTransform(PiecewiseRationalQuadraticCouplingTransform):
    """glasflow's coupling transform (linear tails) with :func:`spline_with_linear_tails`.

    Same parameters and state dict as its parent; :func:`make_sync_free` converts a built flow.
    """

    def _piecewise_cdf(self, inputs, transform_params, inverse=False):
        # glasflow divides the width and height outputs by √(hidden features) of the coupling network.
        scale = math.sqrt(self.transform_net.hidden_features)
        bins = self.num_bins
        # Contiguous copies first: elementwise CPU kernels on these strided slices run ~20× slower.
        widths, heights, derivatives = (part.contiguous() for part in transform_params.split(
            (bins, bins, transform_params.shape[-1] - 2 * bins), dim=-1))
        return spline_with_linear_tails(
            inputs, widths / scale, heights / scale, derivatives, inverse=inverse, bound=self.tail_bound,
            min_bin_width=self.min_bin_width, min_bin_height=self.min_bin_height, min_derivative=self.min_derivative)


def make_sync_free(flow):
    """Switch every linear-tailed rational-quadratic coupling transform in ``flow`` to the sync-free one.

    In place (the module's class changes, its parameters do not); returns the number switched.
    """
    switched = 0
    for module in flow.modules():
        if (type(module) is PiecewiseRationalQuadraticCouplingTransform and module.tails == "linear"
                and hasattr(module.transform_net, "hidden_features")):
            module.__class__ = SyncFreeRationalQuadraticCouplingTransform
            switched += 1
    return switched
