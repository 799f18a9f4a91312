"""The event's data as the network sees them, and the checks that the model fits the analysis."""

import logging
from dataclasses import dataclass

import bilby
import numpy as np

from ..simulation.noise import whitening_factor
from ..simulation.simulator import network_input
from ..simulation.waveforms import band_mask
from .base import ProposalError


class ModelScopeError(ProposalError):
    """The analysis (data, detectors, band, waveform, time prior) lies outside what the model was trained for."""

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

    start = interferometers.start_time
    trigger_time = start + metadata["duration"] - metadata["post_trigger_duration"]
    half_width = metadata["deltaT"] / 2
    time_range = (trigger_time - half_width, trigger_time + half_width)
    time_prior = priors["geocent_time"] if "geocent_time" in priors else None
    if getattr(likelihood, "time_marginalization", False):
        time_prior = likelihood.priors["geocent_time"]
    if time_prior is not None:
        low, high = _support(time_prior)
        if low < time_range[0] - 1e-6 or high > time_range[1] + 1e-6:
            raise ModelScopeError(
                f"The geocent_time prior spans {low:.4f}-{high:.4f}; the model covers {time_range[0]:.4f}-"
                f"{time_range[1]:.4f} (trigger ± deltaT/2 = {half_width:g} s, with the trigger "
                f"{metadata['post_trigger_duration']:g} s before the segment end). Centre the segment on the event "
                f"(bilby_pipe's post-trigger-duration) and keep the time prior inside the trained range.")
    _warn_about_prior_mass_outside(metadata, priors)
    return EventTiming(trigger_time=float(trigger_time), time_range=time_range)


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
    it leaves mass the proposal cannot reach: say how much."""
    bounds = metadata.get("prior_bounds", {})
    for key, (low, high) in bounds.items():
        if key not in priors or key == "geocent_time" or not isinstance(priors[key], bilby.core.prior.Prior):
            continue
        prior = priors[key]
        if prior.is_fixed:
            continue
        draws = prior.sample(20000)
        outside = np.mean((draws < low) | (draws > high))
        if outside > 0:
            logger.warning(
                f"The prior on {key} reaches beyond the model's training prior [{low:g}, {high:g}]: about "
                f"{100 * outside:.1f}% of its mass lies where the proposal has no draws, and the evidence and "
                f"posterior miss that part. Narrow the prior or train a model with a wider one.")


def network_input_from_likelihood(metadata, likelihood, reference_asd):
    """The event's network input, shape (n_detectors, 3, n_bins), in the model's detector order."""
    by_name = {ifo.name: ifo for ifo in likelihood.interferometers}
    rows_strain, rows_psd = [], []
    for name in metadata["detectors"]:
        ifo = by_name[name]
        mask = _model_mask(metadata, ifo.frequency_array)
        if np.count_nonzero(mask) != metadata["num_bins"]:
            raise ModelScopeError(f"{name}: the data have {np.count_nonzero(mask)} bins in the model's band, the model "
                                  f"expects {metadata['num_bins']}.")
        psd = ifo.power_spectral_density_array[mask]
        rows_strain.append(ifo.frequency_domain_strain[mask] * whitening_factor(psd, metadata["duration"]))
        rows_psd.append(psd)
    return network_input(np.stack(rows_strain), np.stack(rows_psd), reference_asd)
