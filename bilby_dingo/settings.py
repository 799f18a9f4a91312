"""The ``dingo`` sampler's keywords, parsed once into a typed, validated settings object.

bilby_pipe hands sampler-kwargs over as parsed strings ('None', 1e5 as a float, '-' in names), so
every value is coerced here and every error names the keyword and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .errors import SettingsError
from .importance_sampling.result_meta import DEFAULT_EFFICIENCY_WARNING
from .proposals.base import Proposal

DEFAULT_NUM_SAMPLES = 10_000
DEFAULT_MAX_SAMPLES = 1_000_000

# Other spellings users (and bilby_pipe) use for our keywords.
KEYWORD_ALIASES = {
    "nsamples": "num_samples",
    "n_samples": "num_samples",
    "check_point_deltaT": "check_point_delta_t",
    "seed": "sampling_seed",
    "random_seed": "sampling_seed",
}


@dataclass(frozen=True)
class DingoSettings:
    """Typed sampler keywords.

    Attributes
    ----------
    proposal:
        "network" (the default when ``model`` is given), "prior" (the default otherwise), or a
        :class:`bilby_dingo.proposals.Proposal` instance.
    model, device, allow_waveform_mismatch:
        The trained model file; where the network runs ("cpu", "cuda", "auto"); whether to accept a
        likelihood with another approximant or reference frequency than the model's.
    num_samples:
        Draw exactly this many samples from the proposal (default 10,000 when ``target_n_eff``
        is not given).
    target_n_eff, max_samples:
        Alternatively draw batches until n_eff reaches ``target_n_eff`` or ``max_samples`` draws
        are spent (default 10^6).
    batch_size:
        Draws per proposal batch.
    resume, check_point_delta_t:
        Resume from the checkpoint in ``outdir``; seconds between periodic checkpoints.
    sampling_seed:
        Seed of every random choice of the run (drawn at random and recorded when None).
    efficiency_warning:
        Sample efficiency below which the result is flagged as unreliable.
    diagnostic_plots:
        Write the weight, log-probability and corner plots next to the result.
    gnpe_iterations, gnpe_chains:
        For a GNPE model: Gibbs iterations (DINGO: 30) and parallel chains whose final time proxies
        the proxy density is fitted to.
    gnpe_guide_draws:
        For a GNPE model: candidates whose likelihood picks where the Gibbs chains start (0 or None:
        start from the initialisation network alone); these likelihood calls are counted in the result.
    refine:
        Refine the proposal adaptively before the final draws (see
        :mod:`bilby_dingo.importance_sampling.refinement`); False gives plain importance sampling.
    refine_draws, refine_max_rounds, refine_alpha, refine_target_efficiency, refine_max_components:
        Draws per refinement round (round 0 included); most refinement rounds; weight α of the base
        proposal in the defensive mixture; the round-0 efficiency at which no refinement is needed;
        most Student-t components of a fit.
    posterior_size:
        None: the posterior is rejection-sampled (distinct draws, as many as the weights support).
        An integer: that many rows resampled with replacement in proportion to the weights (rows repeat
        when it exceeds what rejection sampling would keep).
    pool:
        A user-supplied multiprocessing pool (bilby's convention).
    """

    proposal: str | Proposal | None = None
    model: str | None = None
    device: str = "cpu"
    allow_waveform_mismatch: bool = False
    num_samples: int | None = None
    target_n_eff: int | None = None
    max_samples: int | None = None
    batch_size: int = 10_000
    resume: bool = True
    check_point_delta_t: float = 600.0
    sampling_seed: int | None = None
    efficiency_warning: float = DEFAULT_EFFICIENCY_WARNING
    diagnostic_plots: bool = True
    gnpe_iterations: int = 30
    gnpe_chains: int = 5000
    gnpe_guide_draws: int = 2000
    refine: bool = True
    refine_draws: int = 5000
    refine_max_rounds: int = 8
    refine_alpha: float = 0.1
    refine_target_efficiency: float = 0.2
    refine_max_components: int = 8
    posterior_size: int | None = None
    pool: object | None = None

    @classmethod
    def keywords(cls) -> list[str]:
        return [field.name for field in fields(cls)]

    @classmethod
    def from_kwargs(cls, kwargs: dict, ignored=()) -> DingoSettings:
        """Validate and coerce a keyword dictionary; unknown keys raise a SettingsError (a ValueError)."""
        known = set(cls.keywords()) | set(ignored)
        unknown = sorted(key for key in kwargs if key not in known)
        if unknown:
            raise SettingsError(
                f"Unknown keyword(s) for sampler 'dingo': {unknown}. Valid keywords are "
                f"{sorted(cls.keywords())} (and the pool sizes {sorted(ignored)})."
            )
        values = {key: kwargs[key] for key in cls.keywords() if key in kwargs}
        values = {key: _none_if_null(value) for key, value in values.items()}
        for key in ("num_samples", "target_n_eff", "max_samples", "batch_size"):
            values[key] = _positive_int(key, values.get(key))
        if values.get("batch_size") is None:
            values.pop("batch_size", None)
        for key in ("gnpe_iterations", "gnpe_chains"):
            if key in values:
                number = _int(key, values[key]) if values[key] is not None else None
                if number is None or number < 1:
                    raise SettingsError(
                        f"{key}={values[key]!r}: GNPE needs at least one Gibbs iteration and one chain (DINGO uses "
                        f"30 iterations; the defaults are 30 and 5000).")
                values[key] = number
        if "gnpe_guide_draws" in values:
            # None (bilby_pipe: 'None') turns the guided start off, like 0.
            number = 0 if values["gnpe_guide_draws"] is None else _int("gnpe_guide_draws", values["gnpe_guide_draws"])
            if number < 0:
                raise SettingsError(f"gnpe_guide_draws={number}: give 0 or None (chains start from the initialisation "
                                 f"network) or a positive number of candidates (default 2000).")
            values["gnpe_guide_draws"] = number
        if "refine" in values:
            values["refine"] = _bool("refine", values["refine"])
        for key in ("refine_draws", "refine_max_rounds", "refine_max_components"):
            if key in values:
                number = _positive_int(key, values[key])
                if number is None:
                    raise SettingsError(f"{key} must be a positive integer, got None; leave it out for the default "
                                     f"({getattr(cls, key)}).")
                values[key] = number
        if values.get("refine_draws") is not None and values["refine_draws"] < 100:
            raise SettingsError(f"refine_draws={values['refine_draws']}: a round needs at least 100 draws to fit a "
                             f"density to (default 5000).")
        for key, upper in (("refine_alpha", 1.0), ("refine_target_efficiency", 1.0)):
            if key in values:
                value = _positive_float(key, values[key])
                if value > upper:
                    raise SettingsError(f"{key}={value} must lie in (0, 1].")
                values[key] = value
        if "posterior_size" in values:
            values["posterior_size"] = _positive_int("posterior_size", values["posterior_size"])
        if "sampling_seed" in values and values["sampling_seed"] is not None:
            values["sampling_seed"] = _int("sampling_seed", values["sampling_seed"])
            if values["sampling_seed"] < 0:
                raise SettingsError(f"sampling_seed must be a non-negative integer (numpy's seeds are), got "
                                 f"{values['sampling_seed']}.")
        if "resume" in values:
            values["resume"] = _bool("resume", values["resume"])
        if "check_point_delta_t" in values:
            values["check_point_delta_t"] = _positive_float("check_point_delta_t", values["check_point_delta_t"])
        if "efficiency_warning" in values:
            value = _positive_float("efficiency_warning", values["efficiency_warning"])
            if value >= 1:
                raise SettingsError(f"efficiency_warning={value} must lie in (0, 1): it is a sample efficiency.")
            values["efficiency_warning"] = value
        if "diagnostic_plots" in values:
            values["diagnostic_plots"] = _bool("diagnostic_plots", values["diagnostic_plots"])
        if "allow_waveform_mismatch" in values:
            values["allow_waveform_mismatch"] = _bool("allow_waveform_mismatch", values["allow_waveform_mismatch"])
        if values.get("device") is None:
            values.pop("device", None)
        elif values["device"] not in ("cpu", "cuda", "auto") and not str(values["device"]).startswith("cuda:"):
            raise SettingsError(f"device must be 'cpu', 'cuda' or 'auto', got {values['device']!r}.")
        if values.get("proposal") is None:
            values["proposal"] = "network" if values.get("model") else "prior"
        if values["proposal"] == "network" and not values.get("model"):
            raise SettingsError("proposal='network' needs model=PATH, a model file trained with bilby_dingo_train.")

        if values.get("target_n_eff") is not None:
            if values.get("num_samples") is not None:
                raise SettingsError(
                    "Give either num_samples (a fixed number of draws) or target_n_eff (draw until the "
                    "effective sample size reaches it), not both."
                )
            if values.get("max_samples") is None:
                values["max_samples"] = DEFAULT_MAX_SAMPLES
            if values["max_samples"] < values["target_n_eff"]:
                raise SettingsError(
                    f"max_samples={values['max_samples']} is below target_n_eff={values['target_n_eff']}: "
                    f"n_eff can never exceed the number of draws. Raise max_samples."
                )
        else:
            if values.get("max_samples") is not None:
                raise SettingsError("max_samples only applies with target_n_eff; use num_samples for a fixed number of draws.")
            if values.get("num_samples") is None:
                values["num_samples"] = DEFAULT_NUM_SAMPLES
        return cls(**values)


def _none_if_null(value):
    if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
        return None
    return value


def _int(key, value):
    if isinstance(value, (bool, np.bool_)):
        # bool is an int in Python: num_samples=True would silently mean 1.
        raise SettingsError(f"{key} must be an integer, got {value!r} (a bool).")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be an integer, got {value!r}.") from None
    if not np.isfinite(number) or number != int(number):
        raise SettingsError(f"{key} must be an integer, got {value!r}.")
    return int(number)


def _positive_int(key, value):
    if value is None:
        return None
    number = _int(key, value)
    if number <= 0:
        raise SettingsError(f"{key} must be a positive integer, got {value!r}.")
    return number


def _positive_float(key, value):
    if isinstance(value, (bool, np.bool_)):
        raise SettingsError(f"{key} must be a number, got {value!r} (a bool).")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be a number, got {value!r}.") from None
    if not number > 0:
        raise SettingsError(f"{key} must be positive, got {value!r}.")
    return number


def _bool(key, value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value in (0, 1):
        return bool(value)
    raise SettingsError(f"{key} must be True or False, got {value!r}.")
