"""The trained network as the proposal: q(θ | d, S_n) for the data in bilby's GW likelihood.

Parameters are matched to bilby's search parameters in three groups:

- learned and sampled: drawn from the network, mapped to the event (time relative to the trigger,
  right ascension at the event's sidereal time — both shifts, so log q is unchanged);
- sampled but not learned: drawn from their bilby prior, whose log density joins log q (exact,
  less efficient);
- learned but not sampled (fixed in the analysis, or marginalised by the likelihood): auxiliary.
  The flow gives only the joint density, so they are integrated out by importance sampling on the
  extended space: the target gains a normalised density r(θ_aux), fitted (a heavy-tailed Student-t)
  to a separate pilot draw of the network before any weighted draw is made. The weights
  L π(θ) r(θ_aux) / q(θ, θ_aux) stay exact; the efficiency drops where θ_aux correlates with θ.
"""

import logging

import numpy as np
import torch
from scipy.special import logsumexp

from ..network.model_file import load_model
from ..simulation.detector import ra_at_event_time
from ..utils import bilby_generator, file_sha256, resolve_device
from .base import Proposal, ProposalDraws, ProposalError
from .event_data import check_event_against_model, network_input_from_likelihood
from .student_t import heavy_tailed_fit

logger = logging.getLogger(f"bilby.{__name__}")

PILOT_DRAWS = 20_000
NETWORK_CHUNK = 2048  # points per network pass: bounds the memory of per-point inputs (GNPE)


class NetworkProposal(Proposal):
    """Draws from a trained bilby_dingo model given the data of a bilby GW likelihood.

    Refinement fits a spline flow to its weighted draws (``refine_density="auto"``): GW posteriors bend
    (chirp mass, mass ratio and spins), and split (inclination, sky) beyond what a few Student-t components
    follow (docs/validation.md, "Refinement").

    Parameters
    ----------
    model_path: str
    likelihood: bilby.gw.likelihood.GravitationalWaveTransient (or a subclass)
    priors: bilby.core.prior.PriorDict
        The analysis priors (bilby's, after marginalisations fixed their parameters).
    search_parameter_keys: list of str
    device: str
        "cpu", "cuda" or "auto".
    allow_waveform_mismatch: bool
        Accept a likelihood whose approximant or reference frequency differs from the model's
        (the weights remain exact; the efficiency drops).
    loaded_model: tuple, optional
        (model, metadata) from :func:`bilby_dingo.network.model_file.load_model`, to reuse.
    """

    refinement_density = "flow"

    def __init__(self, model_path, likelihood, priors, search_parameter_keys, device="cpu",
                 allow_waveform_mismatch=False, seed=0, loaded_model=None):
        device = resolve_device(device)
        self.model_path = model_path
        self.device = device
        # (model, metadata) already loaded: analysing many events loads the file once.
        self.model, self.metadata = loaded_model or load_model(model_path, device=device)
        self.event = check_event_against_model(self.metadata, likelihood, priors, allow_waveform_mismatch)
        inputs = network_input_from_likelihood(self.metadata, likelihood, self.model.reference_asd.cpu().numpy())
        self.inputs = torch.from_numpy(inputs[None]).to(device)

        learned = list(self.metadata["inference_parameters"])
        search = list(search_parameter_keys)
        self.learned_and_sampled = [key for key in learned if key in search]
        self.auxiliary = [key for key in learned if key not in search]
        self.from_prior = [key for key in search if key not in learned]
        for key in self.from_prior:
            if hasattr(priors[key], "condition_func"):
                raise ProposalError(
                    f"'{key}' is sampled but not learned by the model, and its prior is conditional; it cannot be "
                    f"drawn independently. Train a model that learns {key}, or fix it in the prior.")
        self.priors = priors
        self.parameter_keys = search
        self._prepare(likelihood, seed)
        self._auxiliary_density = self._fit_auxiliary_density(seed) if self.auxiliary else None
        if self.from_prior:
            logger.info(f"Not learned by the model, drawn from the prior: {self.from_prior}")
        if self.auxiliary:
            logger.info(f"Learned by the model but not sampled (integrated out): {self.auxiliary}")

    def describe(self):
        return (f"bilby_dingo network {self.model_path} (learned: {self.learned_and_sampled}; from the prior: "
                f"{self.from_prior}; integrated out: {self.auxiliary})")

    def fingerprint(self):
        # Two model files may share a path (a retrained model written over the old one): hash the bytes.
        # The device too: the same seed gives other draws on a GPU.
        return f"{self.describe()}; device {self.device}; model sha256 {file_sha256(self.model_path)}"

    # --- the network ---------------------------------------------------------------------------------

    def _prepare(self, likelihood, seed):
        """Work before the first draw (GNPE: the Gibbs chains and the proxy density)."""

    def draw_network(self, n, seed):
        """θ ~ q(θ | d) in the network's parameters and frame: (θ of shape (n, D), log q, auxiliary dict)."""
        with torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            theta, log_prob = self.model.sample_and_log_prob(self.inputs, n)
        return theta.cpu().numpy(), log_prob.cpu().numpy(), {}

    def to_event(self, theta):
        """Network-frame θ (n, D) as bilby parameters of this event: time from the trigger, ra at its sidereal time."""
        n = len(theta)
        samples = {key: theta[:, i] for i, key in enumerate(self.metadata["inference_parameters"])}
        offset = samples.pop("geocent_time", None)
        if offset is None:
            offset = np.zeros(n)
        if "ra" in samples:
            samples["ra"] = ra_at_event_time(samples["ra"], self.metadata["reference_time"] + offset,
                                             self.event.trigger_time + offset)
        samples["geocent_time"] = self.event.trigger_time + offset
        return samples

    def sample_network(self, n, seed):
        """Physical parameter draws of the network, mapped to the event, their log q and auxiliary draws."""
        theta, log_prob, auxiliary = self.draw_network(n, seed)
        return self.to_event(theta), self.wrapped_log_prob(theta, auxiliary, log_prob), auxiliary

    def wrapped_log_prob(self, theta, auxiliary, drawn_log_prob=None):
        """log q of network-frame θ (n, D) with ra taken modulo 2π: the density of the draws as the sampler sees them.

        The network's flow is unbounded: a draw's raw ra can fall below 0 or above 2π, and the event's ra is
        its value modulo 2π (:func:`ra_at_event_time`). Every raw value ra + 2πk then lands on the same point,
        so the density there is the sum over those images: q(ra) = Σ_k q_raw(ra + 2πk), over k = −1, 0, 1 for ra
        in [0, 2π) (images two periods beyond the trained range carry nothing measurable). Reporting only the
        drawn image's density under-states q where the sky posterior reaches ra = 0 = 2π, and over-weights
        those draws (measured: +0.55 in log Z on an injection at ra ≈ 0). ``drawn_log_prob``: log q_raw of
        the drawn image, which then needs no second network pass.
        """
        learned = list(self.metadata["inference_parameters"])
        if "ra" not in learned:
            return drawn_log_prob if drawn_log_prob is not None else self.network_log_prob(theta, auxiliary)
        column = learned.index("ra")
        period = 2 * np.pi
        canonical = np.mod(theta[:, column], period)
        drawn_image = np.floor(theta[:, column] / period)
        images, rows = [], []
        for image in (-1, 0, 1):
            shifted = np.array(theta, dtype=float)
            shifted[:, column] = canonical + image * period
            images.append(shifted)
            rows.append(np.ones(len(theta), dtype=bool) if drawn_log_prob is None else drawn_image != image)
        values = self.network_log_prob_at_images(images, rows, auxiliary)
        terms = []
        for image, row, value in zip((-1, 0, 1), rows, values):
            term = np.empty(len(theta))
            if drawn_log_prob is not None:
                term[~row] = np.asarray(drawn_log_prob)[~row]
            # An image far beyond the trained range can overflow the flow's numerics: its density is 0 there.
            term[row] = np.where(np.isnan(value), -np.inf, value)
            terms.append(term)
        return logsumexp(np.array(terms), axis=0)

    def _fit_auxiliary_density(self, seed):
        samples, _, _ = self.sample_network(PILOT_DRAWS, seed=seed + 7919)
        return heavy_tailed_fit(np.column_stack([samples[key] for key in self.auxiliary]))

    # --- the Proposal interface ----------------------------------------------------------------------

    def sample(self, n, rng):
        samples, log_prob, auxiliary = self.sample_network(n, seed=int(rng.integers(2**62)))
        if self.auxiliary:
            # Learned but not sampled: the target gains r(θ_aux), folded into log q (q / r), so that
            # log w = log L + log π − log(q / r). Their values travel as auxiliaries (not stored).
            values = np.column_stack([samples[key] for key in self.auxiliary])
            log_prob = log_prob - np.atleast_1d(self._auxiliary_density.logpdf(values))
            auxiliary.update({key: samples[key] for key in self.auxiliary})
        if self.from_prior:
            with bilby_generator(rng):
                for key in self.from_prior:
                    samples[key] = np.asarray(self.priors[key].sample(n), dtype=float)
                    log_prob = log_prob + self.priors[key].ln_prob(samples[key])
        samples = {key: samples[key] for key in self.parameter_keys}
        return ProposalDraws(samples, log_prob, auxiliary, self.log_auxiliary_target(samples, auxiliary))

    def sample_and_log_prob(self, n, rng):
        drawn = self.sample(n, rng)
        return drawn.samples, drawn.log_prob

    def log_auxiliary_target(self, samples, auxiliary):
        """log ρ(a | θ) of an extended-space target (GNPE's kernel); None for a plain network."""
        return None

    def log_prob(self, samples, auxiliary=None):
        """log q (as :meth:`sample` reports it) at event-frame points: one network pass per point."""
        auxiliary = auxiliary or {}
        theta = self.to_network(samples, auxiliary)
        log_prob = self.wrapped_log_prob(theta, auxiliary)
        if self.auxiliary:
            values = np.column_stack([auxiliary[key] for key in self.auxiliary])
            log_prob = log_prob - np.atleast_1d(self._auxiliary_density.logpdf(values))
        for key in self.from_prior:
            log_prob = log_prob + self.priors[key].ln_prob(np.asarray(samples[key], dtype=float))
        return log_prob

    def sample_auxiliary(self, samples, rng):
        """Learned-but-not-sampled parameters from r(θ_aux) (the density the target gained)."""
        if not self.auxiliary:
            return {}, None
        n = len(samples[self.parameter_keys[0]])
        values = np.asarray(self._auxiliary_density.rvs(size=n, random_state=rng)).reshape(n, len(self.auxiliary))
        return {key: values[:, i] for i, key in enumerate(self.auxiliary)}, None

    def to_network(self, samples, auxiliary):
        """Event-frame points (sampled θ, learned-but-not-sampled θ_aux) as network-frame θ, shape (n, D).

        The inverse of :meth:`to_event`: time relative to the trigger, ra at the training reference time.
        """
        values = {**auxiliary, **samples}
        learned = list(self.metadata["inference_parameters"])
        n = len(values[learned[0]]) if learned[0] in values else len(next(iter(samples.values())))
        offset = (np.asarray(values["geocent_time"], dtype=float) - self.event.trigger_time
                  if "geocent_time" in learned else np.zeros(n))
        columns = []
        for key in learned:
            if key == "geocent_time":
                columns.append(offset)
            elif key == "ra":
                columns.append(ra_at_event_time(np.asarray(values["ra"], dtype=float),
                                                self.event.trigger_time + offset,
                                                self.metadata["reference_time"] + offset))
            else:
                columns.append(np.asarray(values[key], dtype=float))
        return np.column_stack(columns)

    def network_log_prob(self, theta, auxiliary):
        """log q(θ | d) of network-frame θ (n, D)."""
        return self.network_log_prob_at_images([theta], [np.ones(len(theta), dtype=bool)], auxiliary)[0]

    def network_log_prob_at_images(self, thetas, rows, auxiliary):
        """log q at several network-frame images θ_k (n, D) of n draws with auxiliary values ``auxiliary``, each
        at the draws where ``rows[k]`` (bool, (n,)) holds: a list of arrays of shape (rows[k].sum(),).

        In chunks of ``NETWORK_CHUNK`` draws; a draw's images share its network context (GNPE: one shifted
        input and one embedding per draw, however many images).
        """
        n = len(thetas[0])
        conditioning = self._conditioning(auxiliary)
        parts = [[] for _ in thetas]
        with torch.no_grad():
            for first in range(0, n, NETWORK_CHUNK):
                last = min(first + NETWORK_CHUNK, n)
                chunk = None if conditioning is None else conditioning[first:last]
                context = self._network_context(chunk, last - first)
                for part, theta, row in zip(parts, thetas, rows):
                    select = np.asarray(row[first:last])
                    if select.any():
                        points = self._to_network_frame(theta[first:last][select], None if chunk is None else chunk[select])
                        part.append(self.model.log_prob_in_context(torch.from_numpy(points).to(self.device),
                                                                   context[select]).cpu().numpy())
        return [np.concatenate(part) + self._log_auxiliary_density(conditioning, row) if part else np.empty(0)
                for part, row in zip(parts, rows)]

    def _conditioning(self, auxiliary):
        """Per-draw values the network is conditioned on, from the draws' auxiliary values (none here)."""
        return None

    def _network_context(self, conditioning, num_draws):
        """The network's context for ``num_draws`` draws with per-draw ``conditioning`` (one row each): here the
        event's embedding, the same for every draw."""
        return self.model.context(self.inputs, num_samples=num_draws)

    def _to_network_frame(self, theta, conditioning):
        """θ as the network learned it (here: as given)."""
        return np.ascontiguousarray(theta, dtype=float)

    def _log_auxiliary_density(self, conditioning, row):
        """log density of the values the network is conditioned on, at the draws ``row`` (none here)."""
        return 0.0
