"""Detector projection with bilby's geometry, vectorised over samples.

Formulas follow bilby (``bilby.gw.utils.get_polarization_tensor``, ``time_delay_from_geocenter``,
``Interferometer.get_detector_response``); a test compares every function with bilby's own.

Earth rotation: antenna patterns and delays depend on the right ascension only through the hour
angle ra − GMST(t). The network is trained with times t_ref + Δt; an event at T + Δt is analysed
exactly by shifting ra by GMST(T + Δt) − GMST(t_ref + Δt) (:func:`ra_at_event_time`).
"""

import numpy as np
from bilby.gw.utils import greenwich_mean_sidereal_time

SPEED_OF_LIGHT = 299792458.0  # m/s, as bilby (scipy.constants.c)
# The linear coefficient of bilby's GMST formula (IAU 1982, as lal's XLALGreenwichMeanSiderealTime): 8640184.812866
# sidereal seconds per Julian century of UT1 on top of one per second.
SIDEREAL_RATE = (1 + 8640184.812866 / (36525 * 86400)) * 2 * np.pi / 86400  # rad/s
# sidereal_time gives each time bilby's GMST at the start of its cell (a multiple of SIDEREAL_CELL seconds of GPS
# time) plus the rate times the offset, so that the value depends on the time alone. Over a cell the rate left out
# by the formula's quadratic term changes GMST by ~1e-14 rad, far below bilby's own rounding (~3e-9 rad: a Julian
# date of 2.46e6 days in double precision). Short cells keep few times near a leap second: bilby's GMST of GPS time
# jumps by a second of rotation (7.3e-5 rad) there, and those cells get bilby's value per time.
SIDEREAL_CELL = 8.0  # s
SIDEREAL_TOLERANCE = 1e-7  # rad: a cell whose end disagrees with its start by more holds a leap second


def sidereal_time(times):
    """bilby's Greenwich mean sidereal time (rad) of GPS ``times``: one bilby call per 8-second cell, not per time.

    bilby's ``greenwich_mean_sidereal_time`` costs 3.3–4.9 µs a time; for a training batch of 4096 samples that was
    13–16 ms, most of the batch's host-side work (``benchmarks/simulation_host_time.py``). Each time here takes
    bilby's value at the start of its cell plus :data:`SIDEREAL_RATE` times its offset: bilby's value per time to
    within bilby's own rounding (≤ 2.6e-9 rad measured), and a function of the time alone, whatever else the array
    holds. Cells holding a leap second get bilby's value per time; non-finite times give bilby's answer (NaN). The
    training simulator uses it (:meth:`DetectorProjector.projection_coefficients_and_delays`); inference keeps
    bilby's value per time, so that the proposal's density is bilby's geometry to the last digit.
    """
    shape = np.shape(times)
    times = np.atleast_1d(np.asarray(times, dtype=float)).ravel()
    finite = np.isfinite(times)
    gmst = np.empty(times.shape)
    if not finite.all():
        gmst[~finite] = greenwich_mean_sidereal_time(times[~finite])
    values = times[finite]
    starts = np.floor(values / SIDEREAL_CELL) * SIDEREAL_CELL
    cells, cell_of = np.unique(starts, return_inverse=True)
    at_start = greenwich_mean_sidereal_time(cells)
    linear = np.abs(greenwich_mean_sidereal_time(cells + SIDEREAL_CELL) - at_start
                    - SIDEREAL_RATE * SIDEREAL_CELL) <= SIDEREAL_TOLERANCE
    cell_of = cell_of.reshape(values.shape)
    per_cell = at_start[cell_of] + SIDEREAL_RATE * (values - starts)
    leap = ~linear[cell_of]
    if leap.any():
        per_cell[leap] = greenwich_mean_sidereal_time(values[leap])
    gmst[finite] = per_cell
    return gmst.reshape(shape)


def _sky_angles(ra, dec, time, gmst=None):
    if gmst is None:
        gmst = greenwich_mean_sidereal_time(np.asarray(time, dtype=float))
    return np.asarray(ra) - np.fmod(gmst, 2 * np.pi), np.pi / 2 - np.asarray(dec)


def antenna_patterns(detector_tensor, ra, dec, time, psi, gmst=None):
    """F+ and F× of one detector for arrays of sky positions, times and polarisation angles.

    Parameters
    ----------
    detector_tensor: numpy.ndarray, shape (3, 3)
        ``Interferometer.geometry.detector_tensor``.
    ra, dec, time, psi: numpy.ndarray, shape (n,)
    gmst: numpy.ndarray, optional
        Greenwich mean sidereal time of ``time``, when the caller has it already.

    Returns
    -------
    f_plus, f_cross: numpy.ndarray, shape (n,)
    """
    phi, theta = _sky_angles(ra, dec, time, gmst)
    psi = np.asarray(psi, dtype=float)
    u = np.stack([np.cos(phi) * np.cos(theta), np.cos(theta) * np.sin(phi), -np.sin(theta) * np.ones_like(phi)], -1)
    v = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], -1)
    m = -u * np.sin(psi)[..., None] - v * np.cos(psi)[..., None]
    n = -u * np.cos(psi)[..., None] + v * np.sin(psi)[..., None]
    # D_ij e_ij with e+ = m⊗m − n⊗n and e× = m⊗n + n⊗m.
    dm = m @ detector_tensor.T
    dn = n @ detector_tensor.T
    f_plus = np.sum(dm * m, -1) - np.sum(dn * n, -1)
    f_cross = np.sum(dm * n, -1) + np.sum(dn * m, -1)
    return f_plus, f_cross


def time_delay_from_geocenter(vertex, ra, dec, time, gmst=None):
    """Arrival time at the detector minus arrival time at the geocentre, shape (n,)."""
    phi, theta = _sky_angles(ra, dec, time, gmst)
    omega = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) * np.ones_like(phi)], -1)
    return -(omega @ np.asarray(vertex, dtype=float)) / SPEED_OF_LIGHT


def ra_at_event_time(ra_reference, reference_times, event_times):
    """Right ascension at the event time with the same hour angle as at the reference time.

    ``reference_times`` are t_ref + Δt (training), ``event_times`` are T + Δt (the event).
    """
    shift = greenwich_mean_sidereal_time(np.asarray(event_times, dtype=float)) - greenwich_mean_sidereal_time(
        np.asarray(reference_times, dtype=float))
    return np.mod(np.asarray(ra_reference) + shift, 2 * np.pi)


class DetectorProjector:
    """Projects polarisations onto detectors on a fixed frequency grid, as bilby does.

    Parameters
    ----------
    interferometers: bilby.gw.detector.InterferometerList
        Only their geometry is used.
    frequencies: numpy.ndarray, shape (n_bins,)
        The frequencies of the stored bins (inside bilby's frequency mask).
    segment_start: float
        GPS start of the analysis segment (bilby: trigger + post_trigger_duration − duration).
    """

    def __init__(self, interferometers, frequencies, segment_start):
        self.names = [ifo.name for ifo in interferometers]
        self.detector_tensors = [np.array(ifo.geometry.detector_tensor) for ifo in interferometers]
        self.vertices = [np.array(ifo.geometry.vertex) for ifo in interferometers]
        self.frequencies = np.asarray(frequencies, dtype=float)
        self.segment_start = float(segment_start)

    def projection_coefficients_and_delays(self, ra, dec, geocent_time, psi):
        """F+, F×, the time shift t − t_start and the delay from the geocentre of each detector.

        Each of shape (n, n_detectors).
        """
        geocent_time = np.asarray(geocent_time, dtype=float)
        # Once per batch, shared by every detector; per 8 s cell (sidereal_time), as this is the training
        # simulator's geometry, where bilby's per-time value was most of a batch's host-side cost.
        gmst = sidereal_time(geocent_time)
        f_plus, f_cross, delays = [], [], []
        for tensor, vertex in zip(self.detector_tensors, self.vertices):
            fp, fc = antenna_patterns(tensor, ra, dec, geocent_time, psi, gmst=gmst)
            f_plus.append(fp)
            f_cross.append(fc)
            delays.append(time_delay_from_geocenter(vertex, ra, dec, geocent_time, gmst=gmst))
        delays = np.stack(delays, -1)
        # As bilby: subtract the two GPS times first, then add the small delay.
        shifts = (geocent_time - self.segment_start)[..., None] + delays
        return np.stack(f_plus, -1), np.stack(f_cross, -1), shifts, delays

    def time_shift_factors(self, shifts):
        """exp(−2πi f Δt) for shifts of shape (...,), shape (..., n_bins), complex64.

        The phase f Δt (up to ~10^4 cycles) is reduced modulo one cycle in double precision before
        the single-precision cosine and sine, which keeps the error near 1e-6 rad.
        """
        cycles = np.asarray(shifts, dtype=float)[..., None] * self.frequencies
        angle = (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32)
        factors = np.empty(angle.shape, dtype=np.complex64)
        factors.real = np.cos(angle)
        factors.imag = -np.sin(angle)
        return factors

    def combine(self, plus, cross, f_plus, f_cross, shifts, distance_ratio=1.0):
        """h_I = (F+ h+ + F× h×) · d_ref/d · exp(−2πi f Δt_I) from :meth:`projection_coefficients_and_delays`."""
        ratio = np.reshape(np.asarray(distance_ratio, dtype=float), (-1, 1))
        f_plus = (f_plus * ratio).astype(np.float32)[..., None]
        f_cross = (f_cross * ratio).astype(np.float32)[..., None]
        plus = np.asarray(plus, dtype=np.complex64)[:, None]
        cross = np.asarray(cross, dtype=np.complex64)[:, None]
        return (f_plus * plus + f_cross * cross) * self.time_shift_factors(shifts)
