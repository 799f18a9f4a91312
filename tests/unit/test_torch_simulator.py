"""The torch simulator (training on a GPU) reproduces the numpy simulator's batches."""

import numpy as np
import pytest
import torch

from bilby_dingo.simulation.time_proxies import UniformTimeKernel
from bilby_dingo.simulation.torch_simulator import TorchTrainingDataSimulator
from tests.simulation_fixtures import make_simulator


@pytest.fixture(scope="module")
def simulators():
    numpy_simulator = make_simulator(psd_entries=("aLIGO_O4_high", "aLIGO_mid"), perturbation_sigma=0.1,
                                     inference=("chirp_mass", "ra", "dec", "geocent_time"))
    numpy_simulator.psd_family.scale_range = (0.5, 2.0)
    return numpy_simulator, TorchTrainingDataSimulator(numpy_simulator, "cpu")


def test_psd_draws_split_into_parameters_and_arithmetic_consume_the_same_stream(simulators):
    family = simulators[0].psd_family
    direct = family.sample_log_psd((40, 2), np.random.default_rng(3))
    split = family.log_psd_from_parameters(*family.draw_parameters((40, 2), np.random.default_rng(3)))
    np.testing.assert_array_equal(direct, split)
    on_device = simulators[1].log_psd(*family.draw_parameters((40, 2), np.random.default_rng(3)))
    np.testing.assert_allclose(on_device.numpy(), direct, rtol=1e-12)


@pytest.mark.parametrize("gnpe", [False, True])
def test_noise_free_batches_match_the_numpy_simulator(simulators, gnpe):
    numpy_simulator, torch_simulator = simulators
    numpy_simulator.gnpe_kernel = UniformTimeKernel(0.001, 2) if gnpe else None
    try:
        indices = np.array([0, 1, 2, 2, 1, 0])
        expected = numpy_simulator.simulate(indices, np.random.default_rng(5), add_noise=False)
        batch = torch_simulator.simulate(indices, np.random.default_rng(5), torch.Generator().manual_seed(0),
                                         add_noise=False)
    finally:
        numpy_simulator.gnpe_kernel = None
    assert set(batch) == set(expected)
    # The numpy simulator draws the noise-free batch's numbers in the same order (extrinsic, PSDs,
    # proxies), so the two batches are of the same draws.
    for key in expected:
        got = batch[key].numpy()
        assert got.dtype == expected[key].dtype, key
        scale = np.max(np.abs(expected[key]))
        np.testing.assert_allclose(got, expected[key], rtol=0, atol=2e-6 * scale, err_msg=key)


def test_noise_is_unit_normal_in_each_strain_part_and_absent_from_the_asd_channel(simulators):
    _, torch_simulator = simulators
    indices = np.zeros(3000, dtype=int)
    generator = torch.Generator().manual_seed(1)
    noisy = torch_simulator.simulate(indices, np.random.default_rng(7), generator)["inputs"]
    clean = torch_simulator.simulate(indices, np.random.default_rng(7), generator, add_noise=False)["inputs"]
    noise = (noisy - clean).numpy()
    assert np.all(noise[:, :, 2] == 0)
    for part in (0, 1):
        values = noise[:, :, part].ravel()
        assert abs(values.mean()) < 0.005 and abs(values.std() - 1) < 0.005
    # Real and imaginary parts, detectors and bins independent: no correlation between the two parts.
    assert abs(np.corrcoef(noise[:, :, 0].ravel(), noise[:, :, 1].ravel())[0, 1]) < 0.005


def test_same_generators_give_the_same_batch(simulators):
    _, torch_simulator = simulators
    batches = [torch_simulator.simulate([0, 1, 2], np.random.default_rng(9), torch.Generator().manual_seed(4))
               for _ in range(2)]
    for key in batches[0]:
        assert torch.equal(batches[0][key], batches[1][key])
