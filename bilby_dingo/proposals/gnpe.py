"""GNPE inference: Gibbs sampling of the time proxies, then an exact importance-sampling proposal.

A GNPE network gives q(θ | d, t̂): the posterior given the data shifted by per-detector time
proxies t̂ (see :mod:`bilby_dingo.simulation.time_proxies`). There is no closed-form q(θ | d), so
the proposal lives on the extended space (θ, t̂), as in DINGO-IS:

1. **Gibbs chains** (``gnpe_chains`` in parallel, ``gnpe_iterations`` steps, batched on the model's
   device): start from t_I ~ q_init(t_I | d), t̂ = t + ε; then alternate θ ~ q(θ | d, t̂) and
   t̂ = t(θ) + ε, ε ~ κ. The final proxies are draws of (approximately) the proxies' marginal.
   A chain moves by about a kernel width per step, so chains that start tens of ms away (a broad
   q_init: little training, or low SNR) never arrive. **Likelihood-guided start** (``gnpe_guide_draws``
   candidates, default 2000; 0 turns it off): one Gibbs step from q_init's draws, bilby's likelihood
   and prior on the resulting θ, and the chains start from those draws' times resampled by their
   importance weights (see :meth:`GNPEProposal.guided_start_times`). Those likelihood calls are
   counted (``setup_likelihood_evaluations``).
2. **Proxy density** q(t̂): an unconditional neural spline flow (a Student-t for one detector)
   fitted to those proxies.
3. **Draws**: t̂ ~ q(t̂), then θ ~ q(θ | d, t̂): one network pass per draw, no chain. So
   log q(θ, t̂) = log q(t̂) + log q(θ | d, t̂), exactly.
4. **Target** on the extended space: L(θ) π(θ) κ(t̂ − t(θ)). The kernel integrates to one over t̂
   for every θ, so the evidence and the θ-marginal are those of the original problem: the weights
   w = L π κ / (q(t̂) q(θ | d, t̂)) are exact however well q(t̂) fits; the fit only sets the efficiency.
   The proxies and log κ are stored with every draw (``nested_samples``: ``H1_time_proxy``, ...,
   ``log_auxiliary_target``).

t(θ) in the target uses the analysis's own geocent_time, ra and dec (sampled or fixed).
"""

import logging

import numpy as np
import torch

from ..simulation.time_proxies import (
    UniformTimeKernel,
    detector_times,
    network_parameters_from_times,
    shift_network_input,
)
from ..simulation.waveforms import WaveformSettings
from ..utils import bilby_generator, log_likelihoods
from .base import ProposalError
from .network import NETWORK_CHUNK, NetworkProposal
from .proxy_density import ProxyDensity
from .student_t import heavy_tailed_fit

logger = logging.getLogger(f"bilby.{__name__}")

# The sampler's defaults (the settings' keywords, the factory and the P-P tool read them from here).
# 10 iterations, not DINGO's 30: from the likelihood-guided start, the chains drift towards the network's own
# breadth, so 30 iterations left the proxies 1.3x wider than the exact marginal (median over 20 injections;
# benchmarks/gnpe_gibbs_iterations.py), while 10 are closer, cost a third and refined no worse on survey
# injections (docs/validation.md, "How long GNPE's Gibbs chains should run").
GIBBS_ITERATIONS = 10
GIBBS_CHAINS = 5000
GUIDE_DRAWS = 2000


class GNPEProposal(NetworkProposal):
    """The proposal of a GNPE model: Gibbs chains, a fitted proxy density, exact extended-space weights.

    Parameters as :class:`NetworkProposal`, plus ``gnpe_iterations`` and ``gnpe_chains``.
    """

    def __init__(self, *args, gnpe_iterations=GIBBS_ITERATIONS, gnpe_chains=GIBBS_CHAINS, gnpe_guide_draws=GUIDE_DRAWS,
                 **kwargs):
        if int(gnpe_guide_draws) < 0:
            raise ProposalError(f"gnpe_guide_draws={gnpe_guide_draws}: give 0 (no likelihood-guided chain start) or "
                                f"a positive number of candidates.")
        if int(gnpe_iterations) < 1:
            raise ProposalError(f"gnpe_iterations={gnpe_iterations}: GNPE needs at least one Gibbs iteration "
                                f"(DINGO uses 30).")
        if int(gnpe_chains) < 1:
            raise ProposalError(f"gnpe_chains={gnpe_chains}: GNPE needs at least one chain.")
        self.gnpe_iterations = int(gnpe_iterations)
        self.gnpe_chains = int(gnpe_chains)
        self.gnpe_guide_draws = int(gnpe_guide_draws)
        self.setup_likelihood_evaluations = 0
        # Last: the base constructor runs the set-up hook (_prepare: the Gibbs chains), which reads the settings above.
        super().__init__(*args, **kwargs)

    def describe(self):
        guide = (f"likelihood-guided start from {self.gnpe_guide_draws} candidates" if self.gnpe_guide_draws
                 else "start from q_init")
        # ASCII only: the description is stored in result files, which pesummary writes out as ASCII.
        return (super().describe() + f"; GNPE: {self.gnpe_iterations} Gibbs iterations x {self.gnpe_chains} chains, "
                f"{guide}, kernel {self.kernel.describe()}")

    # --- set-up ----------------------------------------------------------------------------------

    def _prepare(self, likelihood, seed):
        gnpe = self.metadata["gnpe"]
        if self.model.gnpe_init is None:
            raise ProposalError(f"{self.model_path} is a GNPE model without its initialisation network; retrain it "
                                f"with bilby_dingo_train (the initialisation network is trained in the same run).")
        detectors = list(self.metadata["detectors"])
        self.kernel = UniformTimeKernel(gnpe["kernel_half_width"], len(detectors))
        self.proxy_keys = [f"{name}_time_proxy" for name in detectors]
        self.auxiliary_keys = list(self.proxy_keys)
        by_name = {ifo.name: ifo for ifo in likelihood.interferometers}
        self.vertices = [np.array(by_name[name].geometry.vertex) for name in detectors]
        self.frequencies = WaveformSettings.from_mapping(self.metadata).frequencies()
        self.fixed_sky = dict(gnpe.get("fixed_sky", {}))
        self._check_analysis_times(likelihood)
        self.learned = list(self.metadata["inference_parameters"])
        self.time_column = self.learned.index("geocent_time")

        starts = self.guided_start_times(likelihood, self.gnpe_chains, seed) if self.gnpe_guide_draws else None
        proxies = self.gibbs_proxies(self.gnpe_chains, self.gnpe_iterations, seed, start_times=starts)
        self.proxy_density = ProxyDensity(proxies, seed=seed)
        logger.info(f"GNPE: {self.gnpe_chains} chains × {self.gnpe_iterations} Gibbs iterations; proxy density "
                    f"fitted (mean {np.round(1e3 * proxies.mean(axis=0), 3)} ms, std "
                    f"{np.round(1e3 * proxies.std(axis=0), 3)} ms)")

    def _check_analysis_times(self, likelihood):
        """The kernel term needs t(θ): geocent_time, ra and dec sampled or fixed in the analysis."""
        if getattr(likelihood, "time_marginalization", False):
            raise ProposalError(
                "GNPE models need geocent_time in the analysis (the importance weights include the kernel "
                "κ(t̂ − t(θ))): turn off bilby's time marginalisation (time_marginalization=False).")
        for key in ("geocent_time", "ra", "dec"):
            if key not in self.parameter_keys and self._fixed_value(key) is None:
                raise ProposalError(f"GNPE needs {key} sampled or fixed in the analysis priors.")
        if self.kernel.half_width >= (self.event.time_range[1] - self.event.time_range[0]) / 2:
            raise ProposalError(f"The GNPE kernel ±{self.kernel.half_width:g} s is as wide as the model's time range.")
        if "geocent_time" in self.priors and not self._is_fixed("geocent_time"):
            prior = self.priors["geocent_time"]
            if self.kernel.half_width >= (prior.maximum - prior.minimum) / 2:
                raise ProposalError(
                    f"The GNPE kernel ±{1e3 * self.kernel.half_width:g} ms is wider than the geocent_time prior "
                    f"({1e3 * (prior.maximum - prior.minimum):g} ms wide): the proxies would carry no information. "
                    f"Widen the time prior or use a model trained with a narrower kernel.")

    def _is_fixed(self, key):
        prior = self.priors[key]
        return isinstance(prior, (int, float)) or getattr(prior, "is_fixed", False)

    def _fixed_value(self, key):
        if key not in self.priors or not self._is_fixed(key):
            return None
        prior = self.priors[key]
        return float(prior) if isinstance(prior, (int, float)) else float(prior.peak)

    # --- the network in the proxy frame ------------------------------------------------------------

    def _run_chunks(self, function, n, seed):
        """Call ``function(first, last)`` over chunks of NETWORK_CHUNK draws under one torch seed."""
        outputs = []
        with torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            for first in range(0, n, NETWORK_CHUNK):
                outputs.append(function(first, min(first + NETWORK_CHUNK, n)))
        return [np.concatenate(parts) for parts in zip(*outputs)]

    def conditional_draw(self, proxies, seed):
        """θ ~ q(θ | d shifted by −t̂, t̂) in the network's frame (geocent_time as Δt), and log q."""

        def draw(first, last):
            chunk = proxies[first:last]
            shifted = shift_network_input(self.inputs, self.frequencies, chunk)
            _, relative = network_parameters_from_times(np.zeros(len(chunk)), chunk)
            theta, log_prob = self.model.sample_and_log_prob(shifted, len(chunk), proxies=relative)
            theta = theta.cpu().numpy()
            theta[:, self.time_column] += chunk[:, 0]  # learned Δt − t̂_1 back to Δt
            return theta, log_prob.cpu().numpy()

        return self._run_chunks(draw, len(proxies), seed)

    def initial_times(self, n, seed, with_log_prob=False):
        """t_I ~ q_init(t_I | d) from the unshifted data, shape (n, n_detectors) (and log q_init)."""
        with torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            times, log_prob = self.model.gnpe_init.sample_and_log_prob(self.inputs, n)
        if with_log_prob:
            return times.cpu().numpy(), log_prob.cpu().numpy()
        return times.cpu().numpy()

    def network_detector_times(self, theta):
        """t_I(θ) of network-frame draws (sky at the reference time, fixed sky where not learned)."""
        column = {key: i for i, key in enumerate(self.learned)}
        sky = {key: theta[:, column[key]] if key in column else np.full(len(theta), self.fixed_sky[key])
               for key in ("ra", "dec")}
        return detector_times(self.vertices, sky["ra"], sky["dec"], theta[:, self.time_column],
                              self.metadata["reference_time"])

    def gibbs_proxies(self, num_chains, iterations, seed, start_times=None):
        """Final proxies of ``num_chains`` Gibbs chains after ``iterations`` steps, shape (num_chains, n_det).

        The chains start from ``start_times`` (num_chains, n_det) if given, else from q_init's draws.
        """
        rng = np.random.default_rng([seed, 17])
        initial_seed = int(rng.integers(2**62))
        if start_times is None:
            times = self.initial_times(num_chains, seed=initial_seed)
        else:
            times = np.asarray(start_times, dtype=float)
        for _ in range(iterations):
            proxies = times + self.kernel.sample(num_chains, rng)
            theta, _ = self.conditional_draw(proxies, seed=int(rng.integers(2**62)))
            times = self.network_detector_times(theta)
        return times + self.kernel.sample(num_chains, rng)

    def guided_start_times(self, likelihood, num_chains, seed):
        """Chain starts: one-step Gibbs draws from q_init, resampled by their importance weights.

        Candidates t ~ q_init(t | d), t̂ = t + ε, θ ~ q(θ | d, t̂) are importance draws of the posterior
        on the extended space (θ, t̂, t) (see :meth:`candidate_log_weights`). The chains start from the
        detector times of draws resampled by those weights (sampling-importance-resampling): spread over
        the posterior when the data say little, on the few best candidates when it is narrow. Only
        where the chains start changes: the final weights are exact whatever the start.
        """
        rng = np.random.default_rng([seed, 29])
        n = self.gnpe_guide_draws
        initial, log_q_initial = self.initial_times(n, seed=int(rng.integers(2**62)), with_log_prob=True)
        proxies = initial + self.kernel.sample(n, rng)
        theta, log_q_theta = self.conditional_draw(proxies, seed=int(rng.integers(2**62)))
        log_weights, times = self.candidate_log_weights(likelihood, theta, proxies, log_q_initial + log_q_theta, rng)
        finite = np.isfinite(log_weights)
        if not finite.any():
            logger.warning("GNPE guided start: no candidate has a non-zero weight; starting the chains from q_init.")
            return None
        probabilities = np.exp(log_weights[finite] - log_weights[finite].max())
        probabilities /= probabilities.sum()
        logger.info(f"GNPE guided start: {n} candidates, effective sample size {1 / np.sum(probabilities**2):.1f}")
        return times[finite][rng.choice(int(finite.sum()), size=num_chains, p=probabilities)]

    def candidate_log_weights(self, likelihood, theta, proxies, log_q, rng):
        """log w of network-frame candidates θ with proxies t̂ drawn with density ``log_q``; and their t(θ).

        w = L(θ) π(θ) r(θ_aux) κ(t̂ − t(θ)) / q, with the analysis's values (sampled, fixed, or drawn
        here from the prior for parameters the model did not learn — their prior density cancels), and
        r a Student-t fitted to the candidates' learned-but-not-sampled parameters, which the network
        draws but the analysis does not sample. t(θ) (relative to the trigger) comes from the analysis's
        geocent_time, ra and dec, as in the final weights. −inf where the prior or the kernel vanishes.
        """
        n = len(theta)
        samples = self.to_event(theta)
        log_weights = -np.asarray(log_q, dtype=float)
        with bilby_generator(rng):
            for key in self.from_prior:
                samples[key] = np.asarray(self.priors[key].sample(n), dtype=float)
                log_weights -= self.priors[key].ln_prob(samples[key])
        if self.auxiliary:
            values = np.column_stack([samples[key] for key in self.auxiliary])
            log_weights += np.atleast_1d(heavy_tailed_fit(values).logpdf(values))
        search = {key: samples[key] for key in self.parameter_keys}
        times = self.analysis_detector_times(search)
        log_weights += self.kernel.log_prob(proxies - times)
        log_weights += np.asarray(self.priors.ln_prob(search, axis=0), dtype=float) * np.ones(n)
        fixed = {key: self._fixed_value(key) for key in self.priors if self._is_fixed(key)}
        evaluate = np.flatnonzero(np.isfinite(log_weights))
        rows = np.column_stack([search[key] for key in self.parameter_keys])[evaluate]
        log_weights[evaluate] += log_likelihoods(likelihood, self.parameter_keys, rows, fixed)
        self.setup_likelihood_evaluations += len(evaluate)
        return log_weights, times

    # --- the Proposal interface --------------------------------------------------------------------

    def draw_network(self, n, seed):
        rng = np.random.default_rng([seed, 23])
        proxies, log_q_proxies = self.proxy_density.sample_and_log_prob(n, rng)
        theta, log_q_theta = self.conditional_draw(proxies, seed=int(rng.integers(2**62)))
        auxiliary = {key: proxies[:, i] for i, key in enumerate(self.proxy_keys)}
        return theta, log_q_proxies + log_q_theta, auxiliary

    def analysis_detector_times(self, samples):
        """t_I(θ) relative to the trigger from the analysis's geocent_time, ra and dec (sampled or fixed)."""
        n = len(next(iter(samples.values())))
        values = {key: np.asarray(samples[key], dtype=float) if key in samples else np.full(n, self._fixed_value(key))
                  for key in ("geocent_time", "ra", "dec")}
        return detector_times(self.vertices, values["ra"], values["dec"],
                              values["geocent_time"] - self.event.trigger_time, self.event.trigger_time)

    def log_auxiliary_target(self, samples, auxiliary):
        """log κ(t̂ − t(θ)): the kernel term of the extended-space target."""
        proxies = np.column_stack([auxiliary[key] for key in self.proxy_keys])
        return self.kernel.log_prob(proxies - self.analysis_detector_times(samples))

    def _conditioning(self, auxiliary):
        """The proxies t̂ (n, n_detectors)."""
        return np.column_stack([np.asarray(auxiliary[key], dtype=float) for key in self.proxy_keys])

    def _network_context(self, proxies, num_draws):
        """The context of q(θ | d shifted by −t̂, t̂) for draws with proxies t̂."""
        shifted = shift_network_input(self.inputs, self.frequencies, proxies)
        _, relative = network_parameters_from_times(np.zeros(num_draws), proxies)
        return self.model.context(shifted, relative, num_samples=num_draws)

    def _to_network_frame(self, theta, proxies):
        """Network-frame θ (Δt as time) → as the network learned it: Δt − t̂_1."""
        learned = np.array(theta, dtype=float)
        learned[:, self.time_column] -= proxies[:, 0]
        return learned

    def _log_auxiliary_density(self, proxies, row):
        """log q(t̂): the proposal's density of the proxies (q(θ, t̂) = q(t̂) q(θ | d, t̂))."""
        return self.proxy_density.log_prob(proxies[row])

    def sample_auxiliary(self, samples, rng):
        """Proxies from the target's kernel, t̂ = t(θ) + ε, and log κ (plus what the plain network draws)."""
        auxiliary, _ = super().sample_auxiliary(samples, rng)
        times = self.analysis_detector_times(samples)
        proxies = times + self.kernel.sample(len(times), rng)
        auxiliary.update({key: proxies[:, i] for i, key in enumerate(self.proxy_keys)})
        return auxiliary, self.kernel.log_prob(proxies - times)
