"""The ``dingo`` sampler's keywords, parsed once into a typed, validated settings object.

bilby_pipe hands sampler-kwargs over as parsed strings ('None', 1e5 as a float, '-' in names), so
every value is coerced here and every error names the keyword and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from .errors import SettingsError
from .importance_sampling.result_meta import DEFAULT_EFFICIENCY_WARNING
from .proposals.base import Proposal
from .proposals.fitted import FAMILIES
from .proposals.gnpe import GIBBS_CHAINS, GIBBS_ITERATIONS, GUIDE_DRAWS


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


def _float(key, value, expected="a number"):
    if isinstance(value, (bool, np.bool_)):
        raise SettingsError(f"{key} must be {expected}, got {value!r} (a bool).")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be {expected}, got {value!r}.") from None


def _positive_float(key, value):
    number = _float(key, value)
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


DEFAULT_NUM_SAMPLES = 10_000
DEFAULT_MAX_SAMPLES = 1_000_000

# A parser's answer for "leave the field at its default" (e.g. bilby_pipe's 'None' for batch_size).
USE_DEFAULT = object()


def keyword(default, parse, help, default_text=None, aliases=()):
    """One row of the keyword table: a dataclass field carrying its parser, help text and other spellings.

    ``parse(name, value)`` returns the typed value (or :data:`USE_DEFAULT`) and raises a SettingsError
    naming the keyword and the fix; ``default_text`` is how the table shows a default that depends on other
    keywords. The table drives parsing, the sampler's docstring and the README's keyword table.
    """
    return field(default=default, metadata=dict(parse=parse, help=help, default_text=default_text,
                                                aliases=tuple(aliases)))


def _as_given(name, value):
    return value


def _optional_positive_int(name, value):
    return _positive_int(name, value)


def _required_positive_int(name, value):
    number = _positive_int(name, value)
    if number is None:
        raise SettingsError(f"{name} must be a positive integer, got None; leave it out for the default "
                            f"({getattr(DingoSettings, name)}).")
    return number


def _batch_size(name, value):
    number = _positive_int(name, value)
    return USE_DEFAULT if number is None else number


def _gnpe_count(name, value):
    number = _int(name, value) if value is not None else None
    if number is None or number < 1:
        raise SettingsError(
            f"{name}={value!r}: GNPE needs at least one Gibbs iteration and one chain (the defaults are "
            f"{GIBBS_ITERATIONS} iterations and {GIBBS_CHAINS} chains).")
    return number


def _gnpe_guide_draws(name, value):
    # None (bilby_pipe: 'None') turns the guided start off, like 0.
    number = 0 if value is None else _int(name, value)
    if number < 0:
        raise SettingsError(f"gnpe_guide_draws={number}: give 0 or None (chains start from the initialisation "
                            f"network) or a positive number of candidates (default 2000).")
    return number


def _refine_draws(name, value):
    number = _required_positive_int(name, value)
    if number < 100:
        raise SettingsError(f"refine_draws={number}: a round needs at least 100 draws to fit a "
                            f"density to (default 5000).")
    return number


def _refine_density(name, value):
    choices = ("auto",) + FAMILIES
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise SettingsError(f"{name}={value!r}: give one of {', '.join(choices)}.")
    return value.strip().lower()


def _unit_interval(name, value):
    number = _positive_float(name, value)
    if number > 1.0:
        raise SettingsError(f"{name}={number} must lie in (0, 1].")
    return number


def _share(name, value):
    number = _float(name, value, "a number in [0, 1)")
    if not 0 <= number < 1:
        raise SettingsError(f"{name}={number} must lie in [0, 1) (0 turns it off).")
    return number


def _sampling_seed(name, value):
    if value is None:
        return None
    number = _int(name, value)
    if number < 0:
        raise SettingsError(f"sampling_seed must be a non-negative integer (numpy's seeds are), got {number}.")
    return number


def _efficiency_warning(name, value):
    number = _positive_float(name, value)
    if number >= 1:
        raise SettingsError(f"efficiency_warning={number} must lie in (0, 1): it is a sample efficiency.")
    return number


def _device(name, value):
    if value is None:
        return USE_DEFAULT
    if value not in ("cpu", "cuda", "auto") and not str(value).startswith("cuda:"):
        raise SettingsError(f"device must be 'cpu', 'cuda' or 'auto', got {value!r}.")
    return value


def parse_npool(name, value):
    """bilby's pool size (``npool`` or another spelling of it): a positive integer, or None for bilby's default.

    Parsed here, before bilby's Sampler sees it, so that ``npool=-1`` or ``npool="x"`` is an error before any
    likelihood call, and a string holding an integer (bilby_pipe's ``"2"``) is coerced as for every keyword.
    """
    value = _none_if_null(value)
    if value is None:
        return None
    try:
        return _positive_int(name, value)
    except SettingsError:
        raise SettingsError(f"{name} must be a positive integer (the number of likelihood processes; 1 evaluates "
                            f"the likelihood in this process), got {value!r}.") from None


def _bilby_spellings(attribute, name):
    """bilby's own other spellings of one of its keywords (its Sampler's *_equiv_kwargs lists)."""
    from bilby.core.sampler.base_sampler import Sampler

    return tuple(spelling for spelling in getattr(Sampler, attribute) if spelling != name)


@dataclass(frozen=True)
class DingoSettings:
    """Typed sampler keywords; each field is a row of the keyword table (:func:`keyword`)."""

    proposal: str | Proposal | None = keyword(
        None, _as_given, '"network", "prior" or a `bilby_dingo.proposals.Proposal`',
        default_text='`"network"` with a model (GW data without one: the default model), else `"prior"`')
    model: str | None = keyword(
        None, _as_given, "a model file from `bilby_dingo_train`: its network becomes the proposal",
        default_text="the shipped default model for GW data, else –")
    device: str = keyword("auto", _device, "where the network runs: `cpu`, `cuda`, or `auto` (a GPU where PyTorch "
                          "sees one, as in training)")
    allow_waveform_mismatch: bool = keyword(
        False, _bool, "accept a likelihood with another approximant or reference frequency than the model's")
    num_samples: int | None = keyword(
        None, _optional_positive_int, "number of proposal draws (exclusive with `target_n_eff`)",
        default_text=f"{DEFAULT_NUM_SAMPLES}", aliases=("nsamples", "n_samples"))
    target_n_eff: int | None = keyword(
        None, _optional_positive_int, "draw batches until n_eff ≥ target, or `max_samples` draws are spent")
    max_samples: int | None = keyword(
        None, _optional_positive_int, "the draw budget with `target_n_eff`", default_text="10⁶ with `target_n_eff`")
    batch_size: int = keyword(10_000, _batch_size, "draws per batch")
    resume: bool = keyword(True, _bool, "resume from `outdir/dingo_LABEL/LABEL_checkpoint.npz`")
    keep_checkpoint: bool = keyword(
        False, _bool, "keep `outdir/dingo_LABEL/` (checkpoint, refinement state) after the result file is written; by "
        "default it is removed then (with `save=False` nothing is written, and it stays)")
    check_point_delta_t: float = keyword(
        600.0, _positive_float, "seconds between periodic checkpoints",
        aliases=_bilby_spellings("check_point_equiv_kwargs", "check_point_delta_t"))
    sampling_seed: int | None = keyword(
        None, _sampling_seed, "one seed for every random choice; the same seed gives the same result for any npool",
        default_text="random (recorded)", aliases=_bilby_spellings("sampling_seed_equiv_kwargs", "sampling_seed"))
    efficiency_warning: float = keyword(
        DEFAULT_EFFICIENCY_WARNING, _efficiency_warning, "sample efficiency below which the result is flagged")
    diagnostic_plots: bool = keyword(
        True, _bool, "weight, log-probability and corner plots next to the result (also with bilby's `plot=True`)")
    gnpe_iterations: int = keyword(GIBBS_ITERATIONS, _gnpe_count, "GNPE models only: Gibbs iterations (see GNPE below)")
    gnpe_chains: int = keyword(GIBBS_CHAINS, _gnpe_count,
                               "GNPE models only: parallel chains whose final proxies q(t̂) is fitted to")
    gnpe_guide_draws: int = keyword(
        GUIDE_DRAWS, _gnpe_guide_draws, "GNPE models only: candidates whose likelihood picks where the chains start "
        "(0: start from q_init); these calls count in `num_likelihood_evaluations` and "
        "`meta_data[\"dingo\"][\"proposal_setup_likelihood_evaluations\"]`")
    refine: bool = keyword(
        True, _bool, "adaptive refinement of the proposal before the final draws (see above); False: plain "
        "importance sampling")
    refine_draws: int = keyword(5000, _refine_draws, "draws per refinement round (round 0 included)")
    refine_max_rounds: int = keyword(14, _required_positive_int, "most refinement rounds after round 0")
    refine_alpha: float = keyword(
        0.1, _unit_interval, "weight α of the base proposal in the defensive mixture: every weight ≤ 1/α × the "
        "base proposal's")
    refine_tempered_share: float = keyword(
        0.2, _share, "share s of the frozen proposal's fitted part drawn from a fit to the tempered posterior "
        "(Lπ)^½, which reaches further along curved correlations than any fit to the posterior: Q = α q₀ + "
        "(1 − α)[(1 − s) q_fit + s q_tempered]; 0: none")
    refine_target_efficiency: float = keyword(0.2, _unit_interval, "round-0 efficiency at which nothing is refined")
    refine_max_components: int = keyword(8, _required_positive_int, "most Student-t components of a fit")
    refine_density: str = keyword(
        "auto", _refine_density, "the fitted density: `flow` (an unconditional spline flow, 10–30 s of CPU "
        "training a round), `student-t` (a Student-t mixture, under a second), or `auto`: `flow` for a trained "
        "network's proposal (GW posteriors), `student-t` for others")
    posterior_size: int | None = keyword(
        None, _optional_positive_int, "resample this many posterior rows (systematic resampling: draw i appears "
        "about N w_i / sum w times, rows repeat only where that exceeds 1) instead of rejection sampling (distinct "
        "rows, as many as the weights support)")
    pool: object | None = keyword(None, _as_given, "a user-supplied multiprocessing pool (bilby's convention)")

    @classmethod
    def keywords(cls) -> list[str]:
        return [item.name for item in fields(cls)]

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
        values = {}
        for item in fields(cls):
            if item.name in kwargs:
                value = item.metadata["parse"](item.name, _none_if_null(kwargs[item.name]))
                if value is not USE_DEFAULT:
                    values[item.name] = value
        _check_together(values)
        return cls(**values)


def _check_together(values):
    """What no single keyword decides: the proposal's default, and how the number of draws is given."""
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


# Other spellings users (and bilby_pipe) use for our keywords, from the table.
KEYWORD_ALIASES = {alias: item.name for item in fields(DingoSettings) for alias in item.metadata["aliases"]}


def _default_text(item):
    if item.metadata["default_text"] is not None:
        return item.metadata["default_text"]
    if item.default is None:
        return "–"
    return f'`"{item.default}"`' if isinstance(item.default, str) else str(item.default)


def keyword_table_markdown():
    """The README's keyword table, made from the table (a test checks that the README carries it)."""
    rows = ["| keyword | default | meaning |", "|---|---|---|"]
    for item in fields(DingoSettings):
        if item.name == "pool":
            continue
        names = ", ".join(f"`{name}`" for name in (item.name, *item.metadata["aliases"]))
        rows.append(f"| {names} | {_default_text(item)} | {item.metadata['help']} |")
    spellings = ", ".join(f"`{name}`" for name in _bilby_spellings("npool_equiv_kwargs", "npool"))
    rows.append(f"| `npool` | 1 | likelihood processes (bilby's pool; {spellings} also work) |")
    return "\n".join(rows)


def keyword_docstring():
    """The keywords as a numpydoc section, for the sampler's docstring."""
    lines = ["Keywords", "--------"]
    for item in fields(DingoSettings):
        aliases = f" (also {', '.join(item.metadata['aliases'])})" if item.metadata["aliases"] else ""
        lines.append(f"{item.name}: default {_default_text(item).replace('`', '')}{aliases}")
        lines.append(f"    {item.metadata['help'].replace('`', '')}")
    return "\n".join(lines)
