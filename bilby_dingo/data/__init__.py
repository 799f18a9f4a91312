"""Real detector data: strain files read with gwpy and conditioned into bilby interferometers.

The lowest layer beside :mod:`bilby_dingo.simulation`: it imports bilby and gwpy only, so both the
examples and bilby_pipe runs can use it without touching the sampler.
"""

from .gwosc import (
    FRAME_CHANNEL,
    DataError,
    DataSettings,
    gwosc_interferometers,
    interferometers_from_strain,
    off_source_psd,
    read_gwosc_strain,
    write_frame_files,
    write_psd_files,
)

__all__ = [
    "FRAME_CHANNEL",
    "DataError",
    "DataSettings",
    "gwosc_interferometers",
    "interferometers_from_strain",
    "off_source_psd",
    "read_gwosc_strain",
    "write_frame_files",
    "write_psd_files",
]
