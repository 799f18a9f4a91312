"""What identifies an analysis: a named hash of every ingredient that changes its answer.

A checkpoint is resumed, and results are merged, only when every component agrees. Each component is
hashed on its own, so that a mismatch can be reported by name ("strain[H1] and psd[H1] differ"):

- ``parameters``: bilby's search parameter keys, in order;
- ``priors``: the repr of every prior (bilby's repr lists every argument of the prior);
- the likelihood. For a GW likelihood (one with ``interferometers``): ``likelihood`` (its class, its
  marginalisation flags and other scalar settings, its marginalisation priors, the waveform generator's
  repr: source model, conversion, waveform arguments), and per detector ``strain[IFO]`` (frequency-domain
  strain and segment), ``psd[IFO]``, ``band[IFO]`` (frequency mask and limits), ``detector[IFO]`` (geometry,
  calibration model). For other likelihoods: ``likelihood`` (class, ``func``, ``kwargs``) and ``data``
  (the arrays ``x``, ``y``, ``sigma``, ``nu`` as bilby's analytical likelihoods name them, and every
  public numpy array attribute);
- ``proposal``: :meth:`bilby_dingo.proposals.Proposal.fingerprint` (a network's includes a hash of its
  model file's bytes);
- ``settings``: the sampler keywords that change which draws are made (``batch_size``: the generator
  draws batch by batch; the ``refine*`` keywords: they shape the refined proposal). The sampling seed is kept from the checkpoint; ``num_samples`` and
  ``target_n_eff`` may change, to extend a run.
"""

import hashlib
import json
import re

import numpy as np

# Sampler keywords that change the draws of a given seed.
DRAW_SETTINGS = ("batch_size", "refine", "refine_draws", "refine_max_rounds", "refine_alpha", "refine_target_efficiency",
                 "refine_max_components", "refine_density", "refine_tempered_share")

# Attributes bilby sets on a likelihood that do not change its value.
BOOKKEEPING = ("label", "outdir")

# Data attributes of bilby's analytical likelihoods (GaussianLikelihood, StudentTLikelihood, ...).
ANALYTICAL_DATA = ("x", "y", "sigma", "nu")

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def analysis_fingerprint(likelihood, priors, search_parameter_keys, proposal, settings=None) -> dict:
    """Named sha256 hashes of everything that changes the answer of an analysis.

    Parameters
    ----------
    likelihood: bilby.core.likelihood.Likelihood
    priors: bilby.core.prior.PriorDict
    search_parameter_keys: list of str
    proposal: bilby_dingo.proposals.Proposal
    settings: bilby_dingo.settings.DingoSettings, optional
        Adds the ``settings`` component (:data:`DRAW_SETTINGS`).

    Returns
    -------
    dict[str, str]
        Component name → hex digest; equal dictionaries mean the same analysis.
    """
    components = {
        "parameters": _hash(json.dumps(list(search_parameter_keys))),
        "priors": _hash(_priors_text(priors)),
    }
    components.update(likelihood_fingerprint(likelihood))
    components["proposal"] = _hash(proposal.fingerprint())
    if settings is not None:
        components["settings"] = _hash(json.dumps({key: getattr(settings, key) for key in DRAW_SETTINGS}))
    return components


def differing_components(stored, current) -> list:
    """Names of the components whose hashes differ, or that only one fingerprint has (sorted)."""
    if not isinstance(stored, dict):  # written before fingerprints had components
        return ["all (the stored fingerprint has no named components)"]
    return sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))


def likelihood_fingerprint(likelihood) -> dict:
    """The likelihood's components of :func:`analysis_fingerprint`."""
    interferometers = getattr(likelihood, "interferometers", None)
    if interferometers is None:
        return _analytical_likelihood(likelihood)
    components = {"likelihood": _hash(_gw_settings_text(likelihood))}
    for ifo in interferometers:
        data = ifo.strain_data
        components[f"strain[{ifo.name}]"] = _hash(
            _array_bytes(ifo.frequency_domain_strain), repr((data.start_time, data.duration, data.sampling_frequency)))
        components[f"psd[{ifo.name}]"] = _hash(_array_bytes(ifo.power_spectral_density_array))
        components[f"band[{ifo.name}]"] = _hash(
            _array_bytes(ifo.frequency_mask), repr((ifo.minimum_frequency, ifo.maximum_frequency)))
        components[f"detector[{ifo.name}]"] = _hash(
            _stable_repr(getattr(ifo, "geometry", None)), _stable_repr(getattr(ifo, "calibration_model", None)))
    return components


def _gw_settings_text(likelihood):
    # Public scalar attributes hold the settings of bilby's GW likelihoods and their subclasses
    # (marginalisation flags, jitter_time, time_reference, relative binning's epsilon, ...); bilby's
    # run_sampler sets label and outdir on the likelihood (bilby_pipe's parallel runs differ in them).
    scalars = {key: value for key, value in sorted(getattr(likelihood, "__dict__", {}).items())
               if not key.startswith("_") and key not in BOOKKEEPING
               and isinstance(value, (bool, int, float, str, np.number))}
    marginalisation_priors = getattr(likelihood, "priors", None)
    return "\n".join([
        _qualified_name(type(likelihood)),
        repr(scalars),
        f"reference_frame={_stable_repr(getattr(likelihood, 'reference_frame', None))}",
        f"waveform_generator={_stable_repr(getattr(likelihood, 'waveform_generator', None))}",
        f"priors={_priors_text(marginalisation_priors) if marginalisation_priors is not None else None}",
    ])


def _analytical_likelihood(likelihood):
    func = getattr(likelihood, "func", None)
    setting = "\n".join([
        _qualified_name(type(likelihood)),
        f"func={_qualified_name(func) if func is not None else None}",
        f"kwargs={_stable_repr(getattr(likelihood, 'kwargs', None))}",
    ])
    parts = []
    for key in ANALYTICAL_DATA:
        value = getattr(likelihood, key, None)
        if value is not None:
            parts += [key, _array_bytes(value)]
    for key, value in sorted(getattr(likelihood, "__dict__", {}).items()):
        if not key.startswith("_") and isinstance(value, np.ndarray):
            parts += [key, _array_bytes(value)]
    return {"likelihood": _hash(setting), "data": _hash(*parts)}


def _priors_text(priors):
    lines = [f"{key}={_stable_repr(priors[key])}" for key in sorted(priors)]
    conversion = getattr(priors, "conversion_function", None)
    if conversion is not None:
        lines.append(f"conversion_function={_qualified_name(conversion)}")
    return "\n".join(lines)


def _stable_repr(value):
    """repr without memory addresses, which differ from process to process."""
    return _ADDRESS.sub("", repr(value))


def _qualified_name(value):
    return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}"


def _array_bytes(value):
    array = np.ascontiguousarray(np.asarray(value))
    if array.dtype.hasobject:  # the bytes of an object array are memory addresses
        return _stable_repr(array.tolist()).encode()
    return f"{array.dtype.str}{array.shape}".encode() + array.tobytes()


def _hash(*parts):
    digest = hashlib.sha256()
    for part in parts:
        part = part if isinstance(part, bytes) else str(part).encode()
        # Length-prefixed, so that moving bytes from one part to the next changes the hash.
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()
