"""glasflow's rational-quadratic spline coupling without host-device synchronisation.

glasflow (nflows) evaluates the spline only where the input lies inside [-B, B], by boolean-mask
indexing (``x[mask]``, ``x[mask] = y``), guarded by ``torch.any(mask)`` and a domain check
``torch.min(x) < left or torch.max(x) > right``. On a GPU each of these waits for the device to finish
(the mask's size must reach the host), about ten waits per coupling transform; a GNPE model (two flows of
8 transforms) stops the host some 160 times a forward pass and again in the backward pass, so each
step's run time is the sum of the host's kernel launches and the device's work rather than the larger.

Here the spline is evaluated on every input, clamped into [-B, B], and ``torch.where`` keeps the
identity (linear tails, log-Jacobian 0) outside: the same function, with no mask-sized tensor, so
nothing waits. Elementwise the arithmetic is glasflow's (copied below from
``glasflow.nflows.transforms.splines.rational_quadratic``), so outputs agree to rounding; a test checks
values and gradients against glasflow's on inputs inside and outside the interval.
"""

import numpy as np
import torch
from glasflow.nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
from glasflow.nflows.transforms.splines.rational_quadratic import (
    DEFAULT_MIN_BIN_HEIGHT,
    DEFAULT_MIN_BIN_WIDTH,
    DEFAULT_MIN_DERIVATIVE,
)
from glasflow.nflows.utils import torchutils
from torch.nn import functional as F


def rational_quadratic_spline(inputs, unnormalized_widths, unnormalized_heights, unnormalized_derivatives,
                              inverse=False, left=0.0, right=1.0, bottom=0.0, top=1.0,
                              min_bin_width=DEFAULT_MIN_BIN_WIDTH, min_bin_height=DEFAULT_MIN_BIN_HEIGHT,
                              min_derivative=DEFAULT_MIN_DERIVATIVE):
    """glasflow's ``rational_quadratic_spline`` without its domain check (inputs must lie in the domain).

    The inverse clamps the quadratic's discriminant at 0 (it is ≥ 0 but for rounding) where glasflow
    asserts it, since the assertion waits for the device.
    """
    num_bins = unnormalized_widths.shape[-1]
    if min_bin_width * num_bins > 1.0:
        raise ValueError("Minimal bin width too large for the number of bins")
    if min_bin_height * num_bins > 1.0:
        raise ValueError("Minimal bin height too large for the number of bins")

    widths = F.softmax(unnormalized_widths, dim=-1)
    widths = min_bin_width + (1 - min_bin_width * num_bins) * widths
    cumwidths = torch.cumsum(widths, dim=-1)
    cumwidths = F.pad(cumwidths, pad=(1, 0), mode="constant", value=0.0)
    cumwidths = (right - left) * cumwidths + left
    cumwidths[..., 0] = left
    cumwidths[..., -1] = right
    widths = cumwidths[..., 1:] - cumwidths[..., :-1]

    derivatives = min_derivative + F.softplus(unnormalized_derivatives)

    heights = F.softmax(unnormalized_heights, dim=-1)
    heights = min_bin_height + (1 - min_bin_height * num_bins) * heights
    cumheights = torch.cumsum(heights, dim=-1)
    cumheights = F.pad(cumheights, pad=(1, 0), mode="constant", value=0.0)
    cumheights = (top - bottom) * cumheights + bottom
    cumheights[..., 0] = bottom
    cumheights[..., -1] = top
    heights = cumheights[..., 1:] - cumheights[..., :-1]

    bin_idx = torchutils.searchsorted(cumheights if inverse else cumwidths, inputs)[..., None]

    input_cumwidths = cumwidths.gather(-1, bin_idx)[..., 0]
    input_bin_widths = widths.gather(-1, bin_idx)[..., 0]
    input_cumheights = cumheights.gather(-1, bin_idx)[..., 0]
    delta = heights / widths
    input_delta = delta.gather(-1, bin_idx)[..., 0]
    input_derivatives = derivatives.gather(-1, bin_idx)[..., 0]
    input_derivatives_plus_one = derivatives[..., 1:].gather(-1, bin_idx)[..., 0]
    input_heights = heights.gather(-1, bin_idx)[..., 0]

    if inverse:
        a = (inputs - input_cumheights) * (
            input_derivatives + input_derivatives_plus_one - 2 * input_delta
        ) + input_heights * (input_delta - input_derivatives)
        b = input_heights * input_derivatives - (inputs - input_cumheights) * (
            input_derivatives + input_derivatives_plus_one - 2 * input_delta
        )
        c = -input_delta * (inputs - input_cumheights)
        discriminant = (b.pow(2) - 4 * a * c).clamp_min(0)
        root = (2 * c) / (-b - torch.sqrt(discriminant))
        outputs = root * input_bin_widths + input_cumwidths
        theta_one_minus_theta = root * (1 - root)
        denominator = input_delta + (
            (input_derivatives + input_derivatives_plus_one - 2 * input_delta) * theta_one_minus_theta
        )
        derivative_numerator = input_delta.pow(2) * (
            input_derivatives_plus_one * root.pow(2)
            + 2 * input_delta * theta_one_minus_theta
            + input_derivatives * (1 - root).pow(2)
        )
        logabsdet = torch.log(derivative_numerator) - 2 * torch.log(denominator)
        return outputs, -logabsdet

    theta = (inputs - input_cumwidths) / input_bin_widths
    theta_one_minus_theta = theta * (1 - theta)
    numerator = input_heights * (input_delta * theta.pow(2) + input_derivatives * theta_one_minus_theta)
    denominator = input_delta + (
        (input_derivatives + input_derivatives_plus_one - 2 * input_delta) * theta_one_minus_theta
    )
    outputs = input_cumheights + numerator / denominator
    derivative_numerator = input_delta.pow(2) * (
        input_derivatives_plus_one * theta.pow(2)
        + 2 * input_delta * theta_one_minus_theta
        + input_derivatives * (1 - theta).pow(2)
    )
    logabsdet = torch.log(derivative_numerator) - 2 * torch.log(denominator)
    return outputs, logabsdet


def unconstrained_rational_quadratic_spline(inputs, unnormalized_widths, unnormalized_heights,
                                            unnormalized_derivatives, inverse=False, tail_bound=1.0,
                                            min_bin_width=DEFAULT_MIN_BIN_WIDTH,
                                            min_bin_height=DEFAULT_MIN_BIN_HEIGHT,
                                            min_derivative=DEFAULT_MIN_DERIVATIVE):
    """The spline on [-B, B] with linear (identity) tails outside, as glasflow's with ``tails="linear"``."""
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    # glasflow pads with zeros and then sets both ends to this constant: the derivative 1 at ±B.
    constant = float(np.log(np.exp(1 - min_derivative) - 1))
    unnormalized_derivatives = F.pad(unnormalized_derivatives, pad=(1, 1), value=constant)
    outputs, logabsdet = rational_quadratic_spline(
        inputs.clamp(-tail_bound, tail_bound), unnormalized_widths, unnormalized_heights, unnormalized_derivatives,
        inverse=inverse, left=-tail_bound, right=tail_bound, bottom=-tail_bound, top=tail_bound,
        min_bin_width=min_bin_width, min_bin_height=min_bin_height, min_derivative=min_derivative)
    return torch.where(inside, outputs, inputs), torch.where(inside, logabsdet, torch.zeros_like(logabsdet))


class SyncFreeRationalQuadraticCouplingTransform(PiecewiseRationalQuadraticCouplingTransform):
    """glasflow's coupling transform with :func:`unconstrained_rational_quadratic_spline` (linear tails).

    Same parameters and state dict as its parent; :func:`make_sync_free` converts a built flow.
    """

    def _piecewise_cdf(self, inputs, transform_params, inverse=False):
        scale = np.sqrt(self.transform_net.hidden_features)
        unnormalized_widths = transform_params[..., : self.num_bins] / scale
        unnormalized_heights = transform_params[..., self.num_bins: 2 * self.num_bins] / scale
        unnormalized_derivatives = transform_params[..., 2 * self.num_bins:]
        return unconstrained_rational_quadratic_spline(
            inputs, unnormalized_widths, unnormalized_heights, unnormalized_derivatives, inverse=inverse,
            tail_bound=self.tail_bound, min_bin_width=self.min_bin_width, min_bin_height=self.min_bin_height,
            min_derivative=self.min_derivative)


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
