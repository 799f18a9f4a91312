"""Every error bilby_dingo raises on purpose, under one base class.

``except BilbyDingoError`` catches them all; each keeps the built-in base it had (``ValueError`` for
bad input, ``RuntimeError`` for a run that cannot go on), so code that catches those still does. The
classes live here, at the bottom of the package, so that any module can raise any of them and the
package can export them without importing the modules that raise them. Each message says what is
wrong and how to fix it.
"""

__all__ = [
    "BilbyDingoError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ImportanceSamplingError",
    "MergeError",
    "ModelFileError",
    "ModelScopeError",
    "PSDError",
    "PriorStringError",
    "ProposalError",
    "ResultFileError",
    "SettingsError",
    "WaveformError",
]


class BilbyDingoError(Exception):
    """The base of every error bilby_dingo raises on purpose."""


# --- input that cannot be used (ValueError) ---------------------------------------------------------

class SettingsError(BilbyDingoError, ValueError):
    """A ``dingo`` sampler keyword that is unknown, mistyped or inconsistent with another."""


class ConfigError(BilbyDingoError, ValueError):
    """A training config that cannot be used; the message says how to fix it."""


class PriorStringError(BilbyDingoError, ValueError):
    """A prior string that is not a whitelisted bilby prior with literal arguments."""


class WaveformError(BilbyDingoError, ValueError):
    """Waveform settings that bilby/lalsuite cannot use."""


class PSDError(BilbyDingoError, ValueError):
    """A PSD that cannot be used for the requested band."""


class DataError(BilbyDingoError, ValueError):
    """Strain data that cannot be read or conditioned as requested."""


class ModelFileError(BilbyDingoError, ValueError):
    """A file that is not a usable bilby_dingo model."""


class ProposalError(BilbyDingoError, ValueError):
    """A proposal that cannot serve the requested analysis."""


class ModelScopeError(ProposalError):
    """The analysis (data, detectors, band, waveform, time prior) lies outside what the model was trained for."""


class ResultFileError(BilbyDingoError, ValueError):
    """A result file that bilby_dingo will not read."""


class MergeError(BilbyDingoError, ValueError):
    """Results that cannot be pooled into one analysis."""


# --- a run that cannot go on (RuntimeError) ---------------------------------------------------------

class CheckpointError(BilbyDingoError, RuntimeError):
    """A checkpoint file that cannot be used to resume this run."""


class ImportanceSamplingError(BilbyDingoError, RuntimeError):
    """Importance sampling produced no usable weights."""
