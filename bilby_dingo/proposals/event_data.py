"""The event's data as the network sees them, and the checks that the model fits the analysis."""

import logging
from dataclasses import dataclass

import bilby
import numpy as np

from ..errors import ModelScopeError
from ..simulation.noise import whitening_factor
from ..simulation.simulator import network_input
from ..simulation.waveforms import band_mask
from .base import ProposalError

logger = logging.getLogger(f"bilby.{__name__}")


@dataclass(frozen=True)
class EventTiming:
    trigger_time: float
    time_range: tuple


def _model_mask(metadata, frequency_array):
    return band_mask(frequency_array, metadata["minimum_frequency"], metadata["maximum_frequency"])


def check_event_against_model(metadata, likelihood, priors, allow_waveform_mismatch=False):
    """Raise :class:`ModelScopeError` where the analysis does not match what the model was trained for.

    Returns the event's trigger time (from the data segment, bilby_pipe's convention) and the
    time range the model covers.
    """
    interferometers = getattr(likelihood, "interferometers", None)
    if interferometers is None:
        raise ModelScopeError("The network proposal needs a bilby GW likelihood with interferometers "
                              "(e.g. GravitationalWaveTransient).")
    names = [ifo.name for ifo in interferometers]
    if sorted(names) != sorted(metadata["detectors"]):
        raise ModelScopeError(f"The data have detectors {names}, the model was trained for {metadata['detectors']}. "
                              f"Analyse exactly those detectors or train a model for {names}.")
    for ifo in interferometers:
        data = ifo.strain_data
        if not np.isclose(data.duration, metadata["duration"]):
            raise ModelScopeError(f"{ifo.name}: the data last {data.duration:g} s, the model was trained on "
                                  f"{metadata['duration']:g} s segments. Use duration = {metadata['duration']:g}.")
        if not np.isclose(data.sampling_frequency, metadata["sampling_frequency"]):
            raise ModelScopeError(f"{ifo.name}: sampling frequency {data.sampling_frequency:g} Hz, the model was trained at "
                                  f"{metadata['sampling_frequency']:g} Hz.")
        if ifo.minimum_frequency > metadata["minimum_frequency"] + 1e-9 or \
                ifo.maximum_frequency < metadata["maximum_frequency"] - 1e-9:
            raise ModelScopeError(
                f"{ifo.name}: the analysis band {ifo.minimum_frequency:g}-{ifo.maximum_frequency:g} Hz does not cover "
                f"the model's band {metadata['minimum_frequency']:g}-{metadata['maximum_frequency']:g} Hz. Widen the "
                f"analysis band (data beyond the model's band are fine: the network sees its own band).")
        psd = ifo.power_spectral_density_array[_model_mask(metadata, ifo.frequency_array)]
        if not np.all(np.isfinite(psd)) or np.any(psd <= 0):
            # Bad data, not a scope mismatch: retraining would not help.
            raise ProposalError(f"{ifo.name}: the PSD is not finite and positive over the model's band "
                                f"{metadata['minimum_frequency']:g}-{metadata['maximum_frequency']:g} Hz. Check the PSD "
                                f"file or its estimate (it must cover the whole band, with no zeros or NaNs).")
        _check_strain_is_finite(ifo, _model_mask(metadata, ifo.frequency_array))

    generator = getattr(likelihood, "waveform_generator", None)
    arguments = getattr(generator, "waveform_arguments", {}) or {}
    mismatches = []
    if arguments.get("waveform_approximant", metadata["waveform_approximant"]) != metadata["waveform_approximant"]:
        mismatches.append(f"approximant {arguments['waveform_approximant']} (model: {metadata['waveform_approximant']})")
    if not np.isclose(arguments.get("reference_frequency", metadata["reference_frequency"]), metadata["reference_frequency"]):
        mismatches.append(f"reference frequency {arguments['reference_frequency']:g} Hz "
                          f"(model: {metadata['reference_frequency']:g} Hz)")
    if mismatches:
        message = f"The likelihood uses {' and '.join(mismatches)}."
        if not allow_waveform_mismatch:
            raise ModelScopeError(message + " Use a likelihood with the model's settings, or pass "
                                  "allow_waveform_mismatch=True to importance-sample anyway (exact weights, lower efficiency).")
        logger.warning(message + " Importance sampling corrects for it where the supports overlap.")

    timing = event_timing(metadata, interferometers.start_time)
    time_prior = priors["geocent_time"] if "geocent_time" in priors else None
    if getattr(likelihood, "time_marginalization", False):
        time_prior = likelihood.priors["geocent_time"]
    if time_prior is not None:
        _check_time_prior(metadata, timing, time_prior)
    _warn_about_prior_mass_outside(metadata, priors)
    return timing


def event_timing(metadata, start_time):
    """The segment-anchored trigger time and the time window the model covers, for data starting at ``start_time``.

    The network was trained on segments whose trigger lies ``post_trigger_duration`` before the end, with
    geocent_time within ± deltaT/2 of it, and reports geocent_time relative to that trigger. For real
    data the trigger is therefore t_ref = start + duration − post_trigger_duration, computed from the
    data's own first sample: it differs from the catalogue trigger time by the sub-sample offset of the
    sample grid (bilby's geocent_time prior, absolute, keeps its own value).
    """
    trigger_time = float(start_time) + metadata["duration"] - metadata["post_trigger_duration"]
    half_width = metadata["deltaT"] / 2
    return EventTiming(trigger_time=trigger_time, time_range=(trigger_time - half_width, trigger_time + half_width))


def _check_time_prior(metadata, timing, prior):
    """The geocent_time prior against the trained window [t_ref ± deltaT/2].

    Overhangs of at most one data sample (a trigger time off the sample grid) are accepted; larger ones
    get a warning with the prior mass outside the window, as any other prior beyond the training prior;
    a prior with no mass inside the window is an error.
    """
    low, high = _support(prior)
    window_low, window_high = timing.time_range
    overhang = max(window_low - low, high - window_high, 0.0)
    if overhang <= 1e-9:
        return
    sample = 1.0 / metadata["sampling_frequency"]
    scope = (f"the model covers {window_low:.4f}-{window_high:.4f} (± deltaT/2 = {metadata['deltaT'] / 2:g} s around "
             f"the trigger {timing.trigger_time:.4f}, which lies {metadata['post_trigger_duration']:g} s before the end "
             f"of the data segment)")
    outside = _mass_outside(prior, window_low, window_high)
    if overhang <= sample * (1 + 1e-6):
        logger.info(f"The geocent_time prior ({low:.6f}-{high:.6f}) overhangs the trained window by "
                    f"{1e3 * overhang:.3f} ms, at most one sample (1/{metadata['sampling_frequency']:g} s): the "
                    f"trigger time is off the data's sample grid. Accepted (it leaves {100 * outside:.2f}% of the prior "
                    f"mass outside).")
        return
    if high <= window_low or low >= window_high:
        raise ModelScopeError(
            f"The geocent_time prior spans {low:.4f}-{high:.4f}; {scope}: none of it is covered. Place the segment "
            f"around the event (bilby_pipe's trigger-time and post-trigger-duration = "
            f"{metadata['post_trigger_duration']:g} s) and keep the time prior inside the trained window.")
    logger.warning(
        f"The geocent_time prior spans {low:.4f}-{high:.4f}; {scope}: about {100 * outside:.1f}% of its mass lies "
        f"outside, where the network was not trained: the evidence and posterior miss any signal there. Centre "
        f"the segment on the event and narrow the time prior to the trained window.")


def _mass_outside(prior, low, high, num_draws=20000):
    """Prior mass outside [low, high]: from the prior's cdf where it has one, else from draws."""
    if isinstance(prior, (int, float)) or getattr(prior, "is_fixed", False):
        value = _support(prior)[0]
        return float(not low <= value <= high)
    try:
        inside = float(prior.cdf(high)) - float(prior.cdf(low))
        if np.isfinite(inside):
            return float(np.clip(1.0 - inside, 0.0, 1.0))
    except Exception:  # priors without a usable cdf
        pass
    draws = prior.sample(num_draws)
    return float(np.mean((draws < low) | (draws > high)))


def _check_strain_is_finite(ifo, mask):
    """NaN or inf in the data would reach the network as NaN (glasflow then fails with a bare assert)."""
    bad = mask & ~np.isfinite(ifo.frequency_domain_strain)
    if np.any(bad):
        frequencies = ifo.frequency_array[bad]
        shown = ", ".join(f"{frequency:g}" for frequency in frequencies[:5]) + (", ..." if len(frequencies) > 5 else "")
        raise ProposalError(
            f"{ifo.name}: the strain is not finite (NaN or inf) in {len(frequencies)} of {np.count_nonzero(mask)} "
            f"frequency bins of the model's band, at {shown} Hz. The data segment has gaps or corrupt samples: check "
            f"the frame file and channel, or analyse a segment without them (NaN anywhere in the time series makes "
            f"every bin NaN).")


def _support(prior):
    if isinstance(prior, (int, float)):
        return float(prior), float(prior)
    if isinstance(prior, bilby.core.prior.DeltaFunction):
        return float(prior.peak), float(prior.peak)
    return float(prior.minimum), float(prior.maximum)


def _warn_about_prior_mass_outside(metadata, priors):
    """A prior inside the training prior needs no retraining (the weights handle it); one beyond
    it leaves mass the proposal cannot reach: say how much. A prior entirely outside is an error."""
    bounds = metadata.get("prior_bounds", {})
    for key, (low, high) in bounds.items():
        if key not in priors or key == "geocent_time" or not isinstance(priors[key], bilby.core.prior.Prior):
            continue
        prior = priors[key]
        if prior.is_fixed:
            continue
        scope = f"the model's training prior [{low:g}, {high:g}]"
        prior_low, prior_high = _support(prior)
        if prior_high <= low or prior_low >= high:
            raise ModelScopeError(
                f"The prior on {key} ({prior_low:g}-{prior_high:g}) lies entirely outside {scope}: the model has no "
                f"draws there.{_retraining_hint(key, prior_low < low)}")
        outside = _mass_outside(prior, low, high)
        if outside > 0:
            logger.warning(
                f"The prior on {key} reaches beyond {scope}: about {100 * outside:.1f}% of its mass lies where the "
                f"proposal has no draws, and the evidence and posterior miss that part. Narrow the prior to "
                f"[{low:g}, {high:g}].{_retraining_hint(key, prior_low < low)}")


def _retraining_hint(key, below):
    if key == "chirp_mass" and below:
        return (" Lighter binaries need a model trained for them: examples/train_low_mass.ini is a starting point "
                "(lower chirp masses, longer segments; bilby_dingo_train).")
    return (f" To analyse beyond it, train a model whose prior covers it (a copy of the model's config with the {key} "
            f"prior widened, bilby_dingo_train).")


# Parameters whose training range is the model's scope (a bound of it is not a physical bound, as q = 1 or
# |χ| = 0.99 are): a posterior piled up against one says the event may lie beyond the model.
SCOPE_PARAMETERS = ("chirp_mass",)


def posterior_at_training_bounds(metadata, priors, samples, weights, edge_fraction=0.02, minimum_mass=0.1,
                                 factor=5.0):
    """A warning (str) where the posterior piles up against a bound of the model's training prior; else None.

    For each parameter of :data:`SCOPE_PARAMETERS` whose analysis prior reaches a training bound, the
    weighted posterior mass within ``edge_fraction`` of the training range from that bound is compared with
    the prior's mass there: at least ``minimum_mass`` and ``factor`` times the prior's means the data pull
    towards values the model was not trained for. The weights are exact, so the posterior is right for the
    prior given; the event may lie outside it (measured: GW151012, detector-frame chirp mass ≈ 18.4, with
    the default model (20-50): 26% of the posterior within 0.6 of 20, where the prior has 2%).

    Parameters
    ----------
    samples: dict[str, numpy.ndarray]
        Draws, each of shape (N,); weights: numpy.ndarray, shape (N,), normalised or not.
    """
    weights = np.asarray(weights, dtype=float)
    if not np.isfinite(weights).all() or weights.sum() <= 0:
        return None
    weights = weights / weights.sum()
    messages = []
    for key in SCOPE_PARAMETERS:
        bounds = metadata.get("prior_bounds", {}).get(key)
        prior = priors.get(key) if hasattr(priors, "get") else None
        if bounds is None or key not in samples or not isinstance(prior, bilby.core.prior.Prior) or prior.is_fixed:
            continue
        low, high = bounds
        edge = edge_fraction * (high - low)
        prior_low, prior_high = _support(prior)
        values = np.asarray(samples[key], dtype=float)
        for below, bound, region, reaches in ((True, low, (low, low + edge), prior_low <= low + edge),
                                              (False, high, (high - edge, high), prior_high >= high - edge)):
            if not reaches:
                continue
            posterior_mass = float(weights[(values >= region[0]) & (values <= region[1])].sum())
            prior_mass = 1.0 - _mass_outside(prior, *region)
            if posterior_mass >= minimum_mass and posterior_mass >= factor * prior_mass:
                messages.append(
                    f"The posterior of {key} piles up against the model's training-prior bound {bound:g}: "
                    f"{100 * posterior_mass:.0f}% of it lies within {edge:g} of it, where the prior has "
                    f"{100 * prior_mass:.1f}%. The data likely favour {key} {'below' if below else 'above'} {bound:g}, "
                    f"outside the model's scope [{low:g}, {high:g}]: the posterior is right for this prior, but the "
                    f"event may lie beyond it.{_retraining_hint(key, below)}")
    return " ".join(messages) or None


def network_input_from_likelihood(metadata, likelihood, reference_asd):
    """The event's network input, shape (n_detectors, 3, n_bins), in the model's detector order.

    The data and PSD are the likelihood's own: bilby's (Tukey-windowed) frequency-domain strain whitened by
    ``Interferometer.power_spectral_density_array``, so the network sees ``whitened_frequency_domain_strain``
    under bilby's PSD convention for windowed data, whichever is in force.
    """
    by_name = {ifo.name: ifo for ifo in likelihood.interferometers}
    rows_strain, rows_psd = [], []
    for name in metadata["detectors"]:
        ifo = by_name[name]
        mask = _model_mask(metadata, ifo.frequency_array)
        if np.count_nonzero(mask) != metadata["num_bins"]:
            raise ModelScopeError(f"{name}: the data have {np.count_nonzero(mask)} bins in the model's band, the model "
                                  f"expects {metadata['num_bins']}.")
        # The strain first: bilby sets the Tukey window's factor when it first transforms time-domain data,
        # and (with BILBY_INCORRECT_PSD_NORMALIZATION) the PSD it uses depends on that factor.
        strain = ifo.frequency_domain_strain[mask]
        psd = ifo.power_spectral_density_array[mask]
        rows_strain.append(strain * whitening_factor(psd, metadata["duration"]))
        rows_psd.append(psd)
    return network_input(np.stack(rows_strain), np.stack(rows_psd), reference_asd)
