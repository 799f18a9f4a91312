"""Contract of the posterior network: shapes, gradients, SVD initialisation, log-prob consistency."""

import numpy as np
import pytest
import torch

from bilby_dingo.network import EmbeddingNetwork, PosteriorModel, svd_basis

NETWORK = dict(svd_size=6, embedding_hidden=16, embedding_blocks=1, context_dim=8, flow_transforms=2,
               flow_hidden=16, flow_blocks_per_transform=1, flow_bins=4)


def test_svd_initialised_layer_projects_onto_the_basis():
    rng = np.random.default_rng(0)
    waveforms = rng.normal(size=(50, 40)) + 1j * rng.normal(size=(50, 40))
    basis = svd_basis(waveforms, 6)
    assert basis.shape == (40, 6)
    np.testing.assert_allclose(basis.conj().T @ basis, np.eye(6), atol=1e-10)
    embedding = EmbeddingNetwork(num_detectors=2, num_bins=40, svd_size=6)
    embedding.initialise_from_svd(basis)
    strain = waveforms[:2]
    inputs = np.stack([strain.real, strain.imag, np.ones_like(strain.real)], axis=1)  # (2, 3, 40)
    out = embedding.projections[0](torch.as_tensor(inputs.reshape(2, -1), dtype=torch.float32)).detach().numpy()
    coefficients = strain @ basis.conj()  # V^H d per row
    np.testing.assert_allclose(out[:, :6], coefficients.real, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[:, 6:], coefficients.imag, rtol=1e-4, atol=1e-4)


def test_shapes_gradients_and_log_prob_consistency():
    torch.manual_seed(0)
    model = PosteriorModel(num_parameters=3, num_detectors=2, num_bins=20, network=NETWORK)
    model.set_standardisation([30.0, 0.7, 800.0], [3.0, 0.1, 300.0])
    inputs = torch.randn(5, 2, 3, 20)
    theta = torch.tensor([[30.0, 0.7, 800.0]] * 5, dtype=torch.float64)
    loss = model.loss(theta, inputs)
    loss.backward()
    without_gradient = [name for name, p in model.named_parameters() if p.grad is None]
    assert without_gradient == []
    model.eval()
    samples, log_prob = model.sample_and_log_prob(inputs[:1], 7)
    assert samples.shape == (7, 3) and log_prob.shape == (7,)
    again = model.log_prob(samples, inputs[:1].expand(7, -1, -1, -1))
    np.testing.assert_allclose(log_prob.numpy(), again.detach().numpy(), rtol=1e-4, atol=1e-4)
    # physical log q includes the standardisation Jacobian
    z = model.standardise(samples)
    context = model.embedding(inputs[:1].expand(7, -1, -1, -1))
    raw = model.flow.log_prob(z, conditional=context).double()
    np.testing.assert_allclose((raw - np.log(3.0 * 0.1 * 300.0)).detach().numpy(), again.detach().numpy(), rtol=1e-5)


def test_bad_basis_shape():
    with pytest.raises(ValueError, match="SVD basis has shape"):
        EmbeddingNetwork(2, 20, 4).initialise_from_svd(np.zeros((10, 4)))
