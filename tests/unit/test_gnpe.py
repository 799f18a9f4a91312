"""GNPE's pieces: the kernel, the data time shift, the training batches, and the exactness of the
extended-space importance weights on a synthetic problem with a known answer."""

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from bilby_dingo.proposals.gnpe import ProxyDensity
from bilby_dingo.simulation.simulator import network_input
from bilby_dingo.simulation.time_proxies import UniformTimeKernel, shift_network_input
from tests.simulation_fixtures import make_simulator


def test_uniform_kernel_density_and_draws():
    kernel = UniformTimeKernel(0.001, 2)
    draws = kernel.sample(10000, np.random.default_rng(0))
    assert np.abs(draws).max() <= 0.001 and draws.std() == pytest.approx(0.001 / np.sqrt(3), rel=0.02)
    np.testing.assert_allclose(kernel.log_prob(draws), -2 * np.log(0.002))
    assert kernel.log_prob(np.array([[0.0, 0.0011]]))[0] == -np.inf
    with pytest.raises(ValueError, match="half-width must be positive"):
        UniformTimeKernel(0.0, 2)


def test_shifting_the_data_by_the_proxies_moves_the_signal_in_time():
    """Data of a signal at Δt, shifted by −t̂ in every detector, equal data of the signal at Δt − t̂ (same sky,
    sky-frame time shift); numpy and torch paths agree."""
    simulator = make_simulator()
    rng = np.random.default_rng(2)
    extrinsic = simulator.draw_extrinsic(3, rng)
    psd = np.ones((3, 2, len(simulator.projector.frequencies))) * 1e-46
    tau = np.array([0.003, -0.0007, 0.0101])
    signal = network_input(simulator.whitened_signal(np.arange(3), extrinsic, psd), psd, simulator.reference_asd)
    moved = dict(extrinsic, geocent_time=extrinsic["geocent_time"] - tau)
    # Same antenna patterns and delays up to the ~1e-7 change of sidereal time over 10 ms.
    expected = network_input(simulator.whitened_signal(np.arange(3), moved, psd), psd, simulator.reference_asd)
    shifted = np.concatenate([shift_network_input(signal[i:i + 1], simulator.projector.frequencies,
                                                  np.full((1, 2), tau[i])) for i in range(3)])
    scale = np.abs(expected[:, :, :2]).max()
    np.testing.assert_allclose(shifted[:, :, :2], expected[:, :, :2], atol=1e-4 * scale)
    np.testing.assert_array_equal(shifted[:, :, 2], signal[:, :, 2])
    as_torch = shift_network_input(torch.from_numpy(signal[:1]), simulator.projector.frequencies, np.full((1, 2), tau[0]))
    np.testing.assert_allclose(as_torch.numpy(), shifted[:1], atol=1e-6 * scale)


def test_gnpe_training_batch_is_consistent():
    """Detector times as bilby computes them; proxies within the kernel; the learned time and relative
    proxies as documented; the shifted data are the unshifted data shifted by the proxies."""
    import bilby

    simulator = make_simulator(inference=("chirp_mass", "geocent_time"))
    simulator.gnpe_kernel = UniformTimeKernel(0.001, 2)
    batch = simulator.simulate(np.arange(3), np.random.default_rng(0), add_noise=False)
    assert set(batch) == {"inputs", "theta", "proxies", "init_inputs", "init_theta"}
    plain = make_simulator(inference=("chirp_mass", "geocent_time")).simulate(
        np.arange(3), np.random.default_rng(0), add_noise=False)
    np.testing.assert_array_equal(batch["init_inputs"], plain["inputs"])  # same draws, unshifted

    extrinsic = simulator.draw_extrinsic(3, np.random.default_rng(0))  # the batch's first draws
    offset = extrinsic["geocent_time"]
    expected_times = np.column_stack([
        [offset[i] + ifo.time_delay_from_geocenter(extrinsic["ra"][i], extrinsic["dec"][i],
                                                   simulator.reference_time + offset[i]) for i in range(3)]
        for ifo in bilby.gw.detector.InterferometerList(["H1", "L1"])])
    np.testing.assert_allclose(batch["init_theta"], expected_times, atol=1e-9)

    first_proxy = offset - batch["theta"][:, 1]  # learned time = Δt − t̂_1
    proxies = np.column_stack([first_proxy, first_proxy + batch["proxies"][:, 0]])
    assert np.all(np.abs(proxies - expected_times) <= 0.001 + 1e-9)
    shifted = shift_network_input(batch["init_inputs"], simulator.projector.frequencies, proxies)
    np.testing.assert_allclose(batch["inputs"], shifted, atol=1e-5 * np.abs(shifted).max())


def _truncated_normal(mean, std, low, high):
    return stats.truncnorm((low - mean) / std, (high - mean) / std, loc=mean, scale=std)


def test_extended_space_weights_are_exact_on_a_known_problem():
    """Target: θ = two detector times, independent normals (evidence 1). Exact conditional
    q(θ | t̂) ∝ p(θ) κ(t̂ − θ) (truncated normals); Gibbs chains give the proxies; ProxyDensity is
    fitted to them; draws (t̂, θ) weighed by p(θ) κ(t̂ − θ) / (q(t̂) q(θ | t̂)) must give Z = 1 and
    the right θ moments, whatever the fit's quality — and the fit is good (efficiency > 70%)."""
    rng = np.random.default_rng(1)
    mean, std, width = np.array([0.002, -0.004]), np.array([0.0004, 0.0002]), 0.001
    kernel = UniformTimeKernel(width, 2)

    def conditional(proxies):
        draws = np.column_stack([_truncated_normal(mean[i], std[i], proxies[:, i] - width, proxies[:, i] + width)
                                 .rvs(random_state=rng) for i in range(2)])
        log_q = sum(_truncated_normal(mean[i], std[i], proxies[:, i] - width, proxies[:, i] + width)
                    .logpdf(draws[:, i]) for i in range(2))
        return draws, log_q

    chains = mean + std * rng.standard_normal((4000, 2)) * 3  # a poor start: Gibbs forgets it
    for _ in range(10):
        proxies = chains + kernel.sample(len(chains), rng)
        chains, _ = conditional(proxies)
    density = ProxyDensity(chains + kernel.sample(len(chains), rng), seed=0)

    proxies, log_q_proxies = density.sample_and_log_prob(20000, rng)
    theta, log_q_theta = conditional(proxies)
    log_target = stats.norm(mean, std).logpdf(theta).sum(axis=1) + kernel.log_prob(proxies - theta)
    log_w = log_target - log_q_proxies - log_q_theta
    n_eff = np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w))
    log_evidence = logsumexp(log_w) - np.log(len(log_w))
    error = np.sqrt((len(log_w) - n_eff) / (len(log_w) * n_eff))
    assert abs(log_evidence) < 3 * error + 1e-3, (log_evidence, error)
    assert n_eff / len(log_w) > 0.7
    weights = np.exp(log_w - logsumexp(log_w))
    np.testing.assert_allclose(weights @ theta, mean, atol=3 * std.max() / np.sqrt(n_eff))


def test_proxy_density_is_normalised():
    rng = np.random.default_rng(3)
    proxies = rng.uniform(-0.001, 0.001, (3000, 2)) + rng.normal(0, 0.0002, (3000, 2)) + [0.0, 0.005]
    # The fitted core alone integrates to one over ±3 ms ...
    core = ProxyDensity(proxies, seed=1, broad_weight=0.0)
    x, y = np.meshgrid(np.linspace(-0.003, 0.003, 301), np.linspace(0.002, 0.008, 301))
    grid = np.column_stack([x.ravel(), y.ravel()])
    integral = np.exp(core.log_prob(grid)).sum() * (0.006 / 300) ** 2
    assert integral == pytest.approx(1.0, abs=0.02)
    # ... and the default density is 0.9 × core + 0.1 × a normalised Student-t, broader than the proxies.
    density = ProxyDensity(proxies, seed=1)
    broad = stats.multivariate_t(proxies.mean(axis=0), 16 * np.cov(proxies.T) + 0.002**2 * np.eye(2), df=3)
    np.testing.assert_allclose(density.log_prob(grid), np.logaddexp(np.log(0.9) + core.log_prob(grid),
                                                                     np.log(0.1) + broad.logpdf(grid)), rtol=1e-10)
    draws, log_q = density.sample_and_log_prob(500, np.random.default_rng(0))
    np.testing.assert_allclose(log_q, density.log_prob(draws))


def test_gnpe_description_is_ascii():
    """It is stored in result metadata; pesummary's writers fail on '×' and '±' (issue 14, item 8)."""
    from bilby_dingo.proposals.gnpe import GNPEProposal
    from bilby_dingo.simulation.time_proxies import UniformTimeKernel

    proposal = GNPEProposal.__new__(GNPEProposal)
    proposal.model_path, proposal.learned_and_sampled, proposal.from_prior, proposal.auxiliary = "m.pt", ["x"], [], []
    proposal.gnpe_iterations, proposal.gnpe_chains, proposal.gnpe_guide_draws = 30, 5000, 2000
    proposal.kernel = UniformTimeKernel(0.001, 2)
    description = proposal.describe()
    assert description.isascii(), description
    assert "30 Gibbs iterations x 5000 chains" in description and "kernel uniform +/-1 ms" in description
