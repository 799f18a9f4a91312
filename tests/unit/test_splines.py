"""The sync-free rational-quadratic coupling computes glasflow's function (values, gradients, inverse).

Compared in float64, where the two agree to ~1e-14: the same function, not merely a close one (in float32
the different order of operations leaves differences of order 1e-5 relative in the gradients).
"""

import copy

import numpy as np
import pytest
import torch
from glasflow.flows import CouplingNSF
from glasflow.nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform

from bilby_dingo.network import PosteriorModel
from bilby_dingo.network.splines import SyncFreeRationalQuadraticCouplingTransform, make_sync_free
from bilby_dingo.proposals.fitted_flow import FlowTraining, SplineFlowDensity

NETWORK = dict(svd_size=6, embedding_hidden=16, embedding_blocks=1, context_dim=8, flow_transforms=2,
               flow_hidden=16, flow_blocks_per_transform=1, flow_bins=4)


@pytest.fixture
def flows():
    torch.manual_seed(3)
    flow = CouplingNSF(n_inputs=5, n_transforms=3, n_conditional_inputs=4, n_neurons=16, n_blocks_per_transform=1,
                       num_bins=6, tail_bound=2.0)
    with torch.no_grad():  # away from the identity at initialisation, so the splines bend
        for parameter in flow.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    flow = flow.double()
    fast = copy.deepcopy(flow)
    assert make_sync_free(fast) == 3
    return flow, fast


def test_log_prob_and_gradients_agree_with_glasflow_inside_and_outside_the_interval(flows):
    flow, fast = flows
    inputs = 2.0 * torch.randn(300, 5, dtype=torch.float64)  # tail bound 2: about a third of the values lie in the linear tails
    inputs[0, 0], inputs[1, 1] = 2.0, -2.0  # exactly on the boundary
    context = torch.randn(300, 4, dtype=torch.float64)
    assert ((inputs.abs() > 2).float().mean() > 0.2)
    expected, actual = flow.log_prob(inputs, conditional=context), fast.log_prob(inputs, conditional=context)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    expected.sum().backward()
    actual.sum().backward()
    for (name, p), q in zip(flow.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-10, msg=name)


def test_sampling_agrees_with_glasflow(flows):
    flow, fast = flows
    context = torch.randn(200, 4, dtype=torch.float64)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # glasflow's base distribution draws in the default dtype
    try:
        torch.manual_seed(5)
        expected = flow.sample_and_log_prob(200, conditional=context)
        torch.manual_seed(5)
        actual = fast.sample_and_log_prob(200, conditional=context)
    finally:
        torch.set_default_dtype(previous)
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_posterior_model_uses_it_and_keeps_glasflow_state_dict_keys():
    model = PosteriorModel(num_parameters=3, num_detectors=2, num_bins=20, network=NETWORK, gnpe_init=True)
    couplings = [m for m in model.modules() if isinstance(m, PiecewiseRationalQuadraticCouplingTransform)]
    assert len(couplings) == 4 and all(type(m) is SyncFreeRationalQuadraticCouplingTransform for m in couplings)
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, SyncFreeRationalQuadraticCouplingTransform):
            module.__class__ = PiecewiseRationalQuadraticCouplingTransform
    assert list(reference.state_dict()) == list(model.state_dict())


def test_refinement_flows_use_it_stop_early_and_rebuild_to_the_same_density():
    rng = np.random.default_rng(4)
    y = rng.standard_normal((2000, 3)) * [1.0, 0.5, 2.0]
    training = FlowTraining(max_steps=1500)
    density = SplineFlowDensity.fit(y, np.ones(len(y)), rng, training=training)
    couplings = [m for m in density.flow.modules() if isinstance(m, PiecewiseRationalQuadraticCouplingTransform)]
    assert couplings and all(type(m) is SyncFreeRationalQuadraticCouplingTransform for m in couplings)
    # Early stopping: a Gaussian is learned well before the step budget.
    assert training.check_every <= density.training_steps < training.max_steps
    rebuilt = SplineFlowDensity.from_arrays(density.to_arrays())
    np.testing.assert_array_equal(rebuilt.log_prob(y[:50]), density.log_prob(y[:50]))
