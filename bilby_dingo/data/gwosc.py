"""GWOSC strain files → bilby interferometers, conditioned the way bilby_pipe's data generation does it.

For an event with trigger time t, segment duration T, post-trigger duration p, tukey roll-off r and
sampling frequency f_s (:class:`DataSettings`; the defaults are the default model's data settings):

1. **Read** one LOSC/GWOSC HDF5 file per detector whose span contains t, with gwpy
   (``TimeSeries.read(path, format="hdf5.gwosc")``).
2. **Analysis segment** [t + p − T, t + p): cropped at the file's own rate, then resampled to f_s, in
   that order as bilby_pipe does (its default resampling method is lal's; gwpy's is the alternative).
   The first sample lies on the file's sample grid, so the segment starts up to one file sample
   (1/4096 s) before t + p − T; a network's time window is anchored on the segment itself (see
   :func:`bilby_dingo.proposals.event_data.check_event_against_model`).
3. **PSD** from off-source data: Welch periodograms of FFT length T, Tukey window of
   α = 2r/T, overlap ``psd_fractional_overlap`` · T, each stretch resampled to f_s first, combined by
   the median (divided by the median's bias for an exponential distribution, as scipy and gwpy do) or
   the mean. ``psd_off_source="before"`` uses the ``psd_duration`` seconds that end at the segment start
   (bilby_pipe's default psd-start-time, psd-duration = psd-length · T); ``"both"`` (the default) uses
   every whole FFT segment the files hold before *and* after the analysis segment under one median: a
   32 s GWOSC file then gives 11 periodograms instead of 5.
4. **Interferometers**: bilby's, with ``strain_data.roll_off = r``. bilby applies that Tukey window when
   it Fourier-transforms the segment; bilby 2.8 does not rescale the PSD by the window's mean power
   w = <window²> (``BILBY_INCORRECT_PSD_NORMALIZATION`` restores the rescaling of older versions). The network input is
   built from ``Interferometer.power_spectral_density_array``, the likelihood's own PSD, so it follows
   whichever convention is in force.

Getting the data where a network is available (gwpy asks GWOSC)::

    from gwpy.timeseries import TimeSeries
    for detector in ["H1", "L1"]:
        data = TimeSeries.fetch_open_data(detector, 1167559920, 1167559952)  # 32 s around GW170104
        data.write(f"GW170104_data/{detector}.hdf5", format="hdf5")  # :func:`read_gwosc_strain` reads these

or pass the fetched series directly: ``interferometers_from_strain({"H1": h1, "L1": l1}, trigger_time)``.
GWOSC's own HDF5 files (https://gwosc.org, per event) are read as they are.
"""

import glob
import logging
import os
import re
from dataclasses import dataclass

import bilby
import numpy as np
from scipy import signal

from ..errors import DataError

logger = logging.getLogger(f"bilby.{__name__}")

GWOSC_FORMAT = "hdf5.gwosc"
FRAME_CHANNEL = "GWOSC-STRAIN"  # channel name in the frame files written here: bilby_pipe's channel-dict value
_HDF5_EXTENSIONS = (".hdf5", ".hdf", ".h5")
_FILE_DETECTOR = re.compile(r"^[A-Z]-([A-Z][0-9])_")  # H-H1_LOSC_4_V1-1167559920-32.hdf5


@dataclass(frozen=True)
class DataSettings:
    """How the strain is conditioned (bilby_pipe's names, with '_' for '-').

    The defaults are the default model's data settings (H1+L1, 4 s at 512 Hz, 20–256 Hz, trigger 2 s
    before the segment end) and bilby_pipe's defaults for the rest (tukey-roll-off 0.4 s,
    psd-fractional-overlap 0.5, psd-method median, resampling-method lal).

    Attributes
    ----------
    duration, sampling_frequency, post_trigger_duration, minimum_frequency, maximum_frequency:
        The analysis segment and band: [t + post_trigger_duration − duration, t + post_trigger_duration).
    tukey_roll_off:
        Seconds of Tukey roll-off at each end of the segment (α = 2 · roll-off / duration), for the
        segment and for the PSD's periodograms alike.
    psd_fractional_overlap, psd_method:
        Welch overlap as a fraction of ``duration``; "median" or "mean" average of the periodograms.
    psd_off_source:
        "both": every whole periodogram before and after the analysis segment; "before": bilby_pipe's
        stretch of ``psd_duration`` seconds ending at the segment start.
    psd_duration:
        With "before": seconds of PSD data (bilby_pipe: psd-length × duration). None: the largest whole
        multiple of ``duration`` the files hold before the segment.
    resampling_method:
        "lal" (bilby_pipe's default) or "gwpy".
    """

    duration: float = 4.0
    sampling_frequency: float = 512.0
    post_trigger_duration: float = 2.0
    minimum_frequency: float = 20.0
    maximum_frequency: float = 256.0
    tukey_roll_off: float = 0.4
    psd_fractional_overlap: float = 0.5
    psd_method: str = "median"
    psd_off_source: str = "both"
    psd_duration: float = None
    resampling_method: str = "lal"

    def __post_init__(self):
        choices = dict(psd_method=("median", "mean"), psd_off_source=("both", "before"),
                       resampling_method=("lal", "gwpy"))
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise DataError(f"{name}={getattr(self, name)!r} is not one of {list(valid)}.")
        if not 0 < self.post_trigger_duration < self.duration:
            raise DataError(f"post_trigger_duration={self.post_trigger_duration:g} s must lie inside the segment "
                            f"(0 < post_trigger_duration < duration = {self.duration:g} s).")
        if not 0 <= 2 * self.tukey_roll_off <= self.duration:
            raise DataError(f"tukey_roll_off={self.tukey_roll_off:g} s: twice the roll-off must fit in the "
                            f"segment ({self.duration:g} s), as bilby_pipe requires.")
        if not 0 <= self.psd_fractional_overlap < 1:
            raise DataError(f"psd_fractional_overlap={self.psd_fractional_overlap:g} must be in [0, 1).")
        if not 0 < self.minimum_frequency < self.maximum_frequency <= self.sampling_frequency / 2:
            raise DataError(
                f"The band {self.minimum_frequency:g}-{self.maximum_frequency:g} Hz must be increasing and end at "
                f"or below the Nyquist frequency {self.sampling_frequency / 2:g} Hz.")
        if self.psd_duration is not None and self.psd_duration < self.duration:
            raise DataError(f"psd_duration={self.psd_duration:g} s is shorter than one periodogram "
                            f"(duration = {self.duration:g} s).")

    @classmethod
    def from_model_metadata(cls, metadata, **overrides):
        """The data settings a model was trained for (its ``metadata``), with ``overrides``."""
        keys = ("duration", "sampling_frequency", "post_trigger_duration", "minimum_frequency", "maximum_frequency")
        values = {key: float(metadata[key]) for key in keys}
        return cls(**{**values, **overrides})

    def segment(self, trigger_time):
        """(start, end) GPS times of the analysis segment requested for ``trigger_time``."""
        start = float(trigger_time) + self.post_trigger_duration - self.duration
        return start, start + self.duration

    @property
    def tukey_alpha(self):
        return 2 * self.tukey_roll_off / self.duration


# --- reading ---------------------------------------------------------------------------------------------


def _expand(sources):
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths = []
    for source in map(str, sources):
        if os.path.isdir(source):
            found = sorted(path for path in glob.glob(os.path.join(source, "*"))
                           if path.lower().endswith(_HDF5_EXTENSIONS))
            if not found:
                raise DataError(f"The folder {source} holds no HDF5 strain files (*.hdf5, *.h5).")
            paths.extend(found)
        elif os.path.isfile(source):
            paths.append(source)
        else:
            raise DataError(f"{source} is neither a strain file nor a folder.")
    return paths


def _detector_of(series, path):
    name = str(series.name or "")
    if ":" in name:
        return name.split(":")[0]
    match = _FILE_DETECTOR.match(os.path.basename(path))
    if match:
        return match.group(1)
    raise DataError(f"Cannot tell the detector of {path}: its channel has no 'H1:'-style name and the file name "
                    f"does not follow GWOSC's 'H-H1_...' pattern. Pass a dict of TimeSeries keyed by detector to "
                    f"interferometers_from_strain instead.")


def _read_one(TimeSeries, path):
    """A GWOSC HDF5 file (gwpy's ``hdf5.gwosc``), or a single-series HDF5 file gwpy wrote itself."""
    try:
        return TimeSeries.read(path, format=GWOSC_FORMAT)
    except Exception as gwosc_error:
        try:
            return TimeSeries.read(path, format="hdf5")
        except Exception:
            raise DataError(f"gwpy cannot read {path} as GWOSC HDF5 ({GWOSC_FORMAT}: {gwosc_error}) nor as a "
                            f"TimeSeries it wrote (format='hdf5').") from gwosc_error


def read_gwosc_strain(sources, trigger_time=None, detectors=None):
    """Read strain files with gwpy, one per detector.

    Parameters
    ----------
    sources: str, path, or list of them
        HDF5 files, or folders whose ``*.hdf5`` / ``*.h5`` files are read: GWOSC's own files
        (LOSC/GWOSC format), or a TimeSeries gwpy wrote with ``format="hdf5"`` (e.g. after
        ``TimeSeries.fetch_open_data``); the detector comes from the channel name ("H1:...") or
        GWOSC's file name ("H-H1_...").
    trigger_time: float, optional
        Keep only the files whose span contains it (a folder may hold several events).
    detectors: list of str, optional
        Keep only these detectors; each must be found.

    Returns
    -------
    dict[str, gwpy.timeseries.TimeSeries], keyed by detector name (sorted).
    """
    from gwpy.timeseries import TimeSeries

    found = {}
    seen = []
    for path in _expand(sources):
        series = _read_one(TimeSeries, path)
        detector = _detector_of(series, path)
        start, end = float(series.span[0]), float(series.span[1])
        seen.append(f"{detector} {start:.1f}-{end:.1f} ({os.path.basename(path)})")
        if trigger_time is not None and not start <= float(trigger_time) < end:
            continue
        if detectors is not None and detector not in detectors:
            continue
        if detector in found:
            raise DataError(f"Two files for {detector} contain GPS {trigger_time}: {found[detector][0]} and {path}. "
                            f"Pass one file per detector.")
        found[detector] = (path, series)
    missing = [name for name in (detectors or []) if name not in found]
    if not found or missing:
        where = f"containing GPS {trigger_time}" if trigger_time is not None else ""
        raise DataError(f"No strain file {where} for {missing or 'any detector'} in {sources}. Files read: {seen}.")
    for detector, (path, _) in sorted(found.items()):
        logger.info(f"{detector}: strain from {path}")
    return {detector: found[detector][1] for detector in sorted(found)}


# --- conditioning ----------------------------------------------------------------------------------------


def _crop(series, start, end, detector, purpose):
    have = (float(series.span[0]), float(series.span[1]))
    if start < have[0] - 1e-9 or end > have[1] + 1e-9:
        raise DataError(f"{detector}: the {purpose} needs GPS {start:.4f}-{end:.4f}, the data cover "
                        f"{have[0]:.4f}-{have[1]:.4f}. Use longer data, or change the trigger time or the settings.")
    cropped = series.crop(start, end, copy=True)
    if not np.all(np.isfinite(cropped.value)):
        raise DataError(f"{detector}: the {purpose} (GPS {start:.4f}-{end:.4f}) contains NaNs or infinities "
                        f"(GWOSC marks data that fail its quality checks with NaN). Choose another stretch.")
    return cropped


def resample(series, sampling_frequency, method="lal"):
    """``series`` at ``sampling_frequency`` (unchanged when already there), as bilby_pipe resamples."""
    from gwpy.timeseries import TimeSeries

    if np.isclose(series.sample_rate.value, sampling_frequency):
        return series
    if method == "gwpy":
        return series.resample(sampling_frequency)
    import lal

    lal_series = series.to_lal()
    lal.ResampleREAL8TimeSeries(lal_series, float(1 / sampling_frequency))
    return TimeSeries(lal_series.data.data, epoch=lal_series.epoch, dt=lal_series.deltaT, name=series.name)


def _median_bias(n):
    """E[median of n exponential draws] / E[draw] (odd n; scipy's convention for even n)."""
    terms = 2 * np.arange(1, (n - 1) // 2 + 1)
    return 1 + np.sum(1.0 / (terms + 1) - 1.0 / terms)


def _periodograms(series, settings):
    """One-sided periodograms (density, bilby/gwpy normalisation), shape (n_frequencies, n_segments)."""
    length = int(round(settings.duration * settings.sampling_frequency))
    overlap = int(round(settings.psd_fractional_overlap * length))
    frequencies, _, power = signal.spectrogram(
        series.value, fs=settings.sampling_frequency, window=("tukey", settings.tukey_alpha), nperseg=length,
        noverlap=overlap, detrend="constant", scaling="density", mode="psd")
    return frequencies, power


def off_source_psd(series, trigger_time, settings=None, detector=""):
    """The PSD of one detector from data off the analysis segment (see the module docstring).

    Parameters
    ----------
    series: gwpy.timeseries.TimeSeries
        The detector's strain at its own rate, spanning the analysis segment and the off-source data.
    trigger_time: float
    settings: DataSettings

    Returns
    -------
    frequencies, psd: numpy.ndarray, shape (duration · sampling_frequency / 2 + 1,)
    """
    settings = settings or DataSettings()
    start, end = settings.segment(trigger_time)
    first, last = float(series.span[0]), float(series.span[1])
    if settings.psd_off_source == "before":
        available = start - first
        psd_duration = settings.psd_duration or settings.duration * np.floor(available / settings.duration + 1e-9)
        stretches = [(start - psd_duration, start)]
    else:
        stretches = [(first, start), (end, last)]
    columns, frequencies = [], None
    for low, high in stretches:
        if high - low < settings.duration - 1e-9:
            if settings.psd_off_source == "before":
                raise DataError(f"{detector}: {high - low:.1f} s of data before the segment, less than one "
                                f"periodogram ({settings.duration:g} s). Use longer data or psd_off_source='both'.")
            continue
        stretch = resample(_crop(series, low, high, detector, "PSD data"), settings.sampling_frequency,
                           settings.resampling_method)
        frequencies, power = _periodograms(stretch, settings)
        columns.append(power)
    if not columns:
        raise DataError(f"{detector}: no off-source stretch of at least {settings.duration:g} s around the segment "
                        f"{start:.4f}-{end:.4f} in data covering {first:.4f}-{last:.4f}. Use longer data.")
    power = np.concatenate(columns, axis=1)
    if settings.psd_method == "median":
        psd = np.median(power, axis=1) / _median_bias(power.shape[1])
    else:
        psd = np.mean(power, axis=1)
    logger.info(f"{detector}: PSD from {power.shape[1]} periodograms ({settings.psd_method} Welch, "
                f"{settings.duration:g} s, Tukey α = {settings.tukey_alpha:g}, stretches {stretches})")
    return frequencies, psd


def interferometers_from_strain(strain, trigger_time, settings=None):
    """bilby interferometers for the analysis of ``trigger_time``, PSDs from off-source data.

    Parameters
    ----------
    strain: dict[str, gwpy.timeseries.TimeSeries]
        Per detector, data spanning the analysis segment and off-source data for the PSD, at any rate
        (e.g. :func:`read_gwosc_strain`, or gwpy's ``TimeSeries.fetch_open_data``).
    trigger_time: float
        GPS time the segment is placed around: it ends ``post_trigger_duration`` after it.
    settings: DataSettings, optional
        Default: the default model's data settings.

    Returns
    -------
    bilby.gw.detector.InterferometerList
        Strain (``roll_off`` set, so bilby windows it), PSD and band set; the start time is that of the
        segment's first sample.
    """
    settings = settings or DataSettings()
    start, end = settings.segment(trigger_time)
    interferometers = []
    for detector in sorted(strain):
        series = strain[detector]
        try:
            ifo = bilby.gw.detector.get_empty_interferometer(detector)
        except ValueError as error:
            raise DataError(f"bilby knows no detector {detector!r}: {error}") from error
        ifo.strain_data.roll_off = settings.tukey_roll_off
        frequencies, psd = off_source_psd(series, trigger_time, settings, detector=detector)
        ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(frequency_array=frequencies,
                                                                             psd_array=psd)
        segment = resample(_crop(series, start, end, detector, "analysis segment"), settings.sampling_frequency,
                           settings.resampling_method)
        segment.override_unit("")
        ifo.strain_data.set_from_gwpy_timeseries(segment)
        ifo.strain_data.frequency_domain_strain  # bilby windows and transforms lazily: set window_factor now
        ifo.minimum_frequency = settings.minimum_frequency
        ifo.maximum_frequency = settings.maximum_frequency
        interferometers.append(ifo)
    interferometers = bilby.gw.detector.InterferometerList(interferometers)
    logger.info(f"Analysis segment {interferometers.start_time:.6f}-{interferometers.start_time + settings.duration:.6f} "
                f"(requested {start:.6f}: the first sample lies on the data's grid)")
    return interferometers


def gwosc_interferometers(sources, trigger_time, settings=None, detectors=None):
    """:func:`read_gwosc_strain` then :func:`interferometers_from_strain`: GWOSC files → interferometers."""
    return interferometers_from_strain(read_gwosc_strain(sources, trigger_time, detectors), trigger_time, settings)


def write_psd_files(interferometers, outdir):
    """Write each interferometer's PSD as a two-column text file (frequency, PSD) for bilby_pipe's psd-dict.

    Returns {detector: path}. The PSD is the one set on the interferometer (not rescaled by any window
    factor): bilby applies its own convention when it reads the file, as for a PSD it estimated itself.
    """
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    for ifo in interferometers:
        path = os.path.join(outdir, f"{ifo.name}_psd.txt")
        psd = ifo.power_spectral_density
        np.savetxt(path, np.column_stack([psd.frequency_array, psd.psd_array]),
                   header="frequency [Hz], PSD [1/Hz]: median Welch of off-source data (bilby_dingo.data.gwosc)")
        paths[ifo.name] = path
    return paths


def write_frame_files(strain, outdir):
    """Write each detector's strain as a GWF frame file, ``OUTDIR/{detector}_strain.gwf``, for bilby_pipe.

    bilby_pipe's data-dict reads frame files with the channel ``{detector}:{channel-dict value}``: give
    ``channel-dict = {H1: GWOSC-STRAIN, L1: GWOSC-STRAIN}`` (:data:`FRAME_CHANNEL`). The values are
    written unchanged (float64). Returns {detector: path}.
    """
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    for detector in sorted(strain):
        series = strain[detector].copy()
        series.name = series.channel = f"{detector}:{FRAME_CHANNEL}"
        path = os.path.join(outdir, f"{detector}_strain.gwf")
        series.write(path, format="gwf")
        paths[detector] = path
    return paths
