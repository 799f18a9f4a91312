r"""Sky and time coordinates in which a two-detector posterior is nearly Gaussian, for fitted densities.

Two detectors measure mainly the arrival time at each: the posterior of (ra, dec, geocent_time) is a thin
ring on the sky (constant time delay between the detectors), with geocent_time tied to the position on the
ring. A Student-t mixture in (ra, dec, t) follows that curved, correlated ring poorly. In the frame of the
detector baseline the same posterior is simple (the idea behind bilby's ``zenith``/``azimuth`` sky frame):

- zenith ζ: angle between the source direction and the baseline, set by the time delay (sharp);
- azimuth φ: position around the ring (broad, periodic);
- τ = t − t_ref + Δ₁(ra, dec): the arrival time at the first detector (sharp).

The map (ra, dec, t) → (φ, ζ, τ) is a bijection with an exact Jacobian, so a density fitted in the new
coordinates is an exact density of the old ones:

- the sky part is a fixed rotation of the sphere (Earth-fixed frame at the reference time t_ref, then the
  baseline frame), which keeps the solid angle: cos(dec) d(ra) d(dec) = sin(ζ) dφ dζ;
- Δ₁ is evaluated with the Earth's orientation at t_ref, not at t, so τ is t shifted by a function of the
  sky position alone (a shear): dτ/dt = 1. (Within a ±0.1 s time prior the Earth turns by 7 μrad; the
  coordinates are then a close, not an exact, image of the detector time — but the density stays exact.)

So log |∂(φ, ζ, τ)/∂(ra, dec, t)| = log cos(dec) − log sin(ζ).
"""

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s
SKY_KEYS = ("ra", "dec")
TIME_KEY = "geocent_time"
AZIMUTH, ZENITH, DETECTOR_TIME = "sky_frame_azimuth", "sky_frame_zenith", "sky_frame_detector_time"


class SkyFrame:
    """(ra, dec[, geocent_time]) ↔ (azimuth, zenith[, detector time]) in a detector pair's baseline frame.

    Parameters
    ----------
    first_vertex, second_vertex: arrays (3,)
        Earth-fixed positions of the two detectors (bilby's ``Interferometer.vertex``, metres).
    reference_time: float
        GPS time at which the Earth's orientation is taken (the trigger time).
    greenwich_sidereal_angle: float
        Greenwich mean sidereal time at ``reference_time``, radians (bilby's
        ``greenwich_mean_sidereal_time``); stored so that a saved frame does not depend on lal.
    """

    def __init__(self, first_vertex, second_vertex, reference_time, greenwich_sidereal_angle):
        self.first_vertex = np.asarray(first_vertex, dtype=float)
        self.second_vertex = np.asarray(second_vertex, dtype=float)
        self.reference_time = float(reference_time)
        self.greenwich_sidereal_angle = float(greenwich_sidereal_angle)
        baseline = self.second_vertex - self.first_vertex
        if not np.linalg.norm(baseline) > 0:
            raise ValueError("A sky frame needs two detectors at different places.")
        z_axis = baseline / np.linalg.norm(baseline)
        # Any axis orthogonal to the baseline will do; the Earth's axis projected is well defined for
        # every pair of ground-based detectors (no baseline is parallel to the Earth's axis).
        pole = np.array([0.0, 0.0, 1.0])
        x_axis = pole - (pole @ z_axis) * z_axis
        x_axis /= np.linalg.norm(x_axis)
        self.rotation = np.array([x_axis, np.cross(z_axis, x_axis), z_axis])  # rows: the new axes

    @classmethod
    def for_interferometers(cls, interferometers, reference_time):
        """The frame of the first two of bilby ``interferometers`` at ``reference_time``."""
        from bilby.gw.utils import greenwich_mean_sidereal_time

        return cls(interferometers[0].vertex, interferometers[1].vertex, reference_time,
                   greenwich_mean_sidereal_time(reference_time))

    # --- coordinates -----------------------------------------------------------------------------

    def _direction(self, ra, dec):
        """Unit vectors (n, 3) towards the sources, Earth-fixed at the reference time."""
        longitude = ra - self.greenwich_sidereal_angle
        return np.column_stack([np.cos(dec) * np.cos(longitude), np.cos(dec) * np.sin(longitude), np.sin(dec)])

    def _delay(self, direction):
        """Arrival time at the first detector minus at the geocentre, for waves from ``direction``."""
        return -(direction @ self.first_vertex) / SPEED_OF_LIGHT

    def forward(self, ra, dec, time=None):
        """(azimuth, zenith, detector time or None, log |Jacobian|) of sky positions and geocentre times."""
        ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
        direction = self._direction(ra, dec)
        rotated = direction @ self.rotation.T
        zenith = np.arccos(np.clip(rotated[:, 2], -1.0, 1.0))
        azimuth = np.mod(np.arctan2(rotated[:, 1], rotated[:, 0]), 2 * np.pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_jacobian = np.log(np.cos(dec)) - np.log(np.sin(zenith))
        # |dec| > π/2 is no sky position (a proposal may still draw it): no density of the frame's.
        log_jacobian[~(np.abs(dec) < np.pi / 2)] = -np.inf
        detector_time = None if time is None else (np.asarray(time, dtype=float) - self.reference_time
                                                   + self._delay(direction))
        return azimuth, zenith, detector_time, log_jacobian

    def inverse(self, azimuth, zenith, detector_time=None):
        """(ra, dec, geocentre time or None) of frame coordinates."""
        azimuth, zenith = np.asarray(azimuth, dtype=float), np.asarray(zenith, dtype=float)
        rotated = np.column_stack([np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth), np.cos(zenith)])
        direction = rotated @ self.rotation
        dec = np.arcsin(np.clip(direction[:, 2], -1.0, 1.0))
        ra = np.mod(np.arctan2(direction[:, 1], direction[:, 0]) + self.greenwich_sidereal_angle, 2 * np.pi)
        time = None if detector_time is None else (np.asarray(detector_time, dtype=float) + self.reference_time
                                                   - self._delay(direction))
        return ra, dec, time

    # --- storage ---------------------------------------------------------------------------------

    def to_arrays(self):
        return dict(first_vertex=self.first_vertex, second_vertex=self.second_vertex,
                    reference_time=np.array(self.reference_time),
                    greenwich_sidereal_angle=np.array(self.greenwich_sidereal_angle))

    @classmethod
    def from_arrays(cls, arrays):
        return cls(arrays["first_vertex"], arrays["second_vertex"], float(arrays["reference_time"]),
                   float(arrays["greenwich_sidereal_angle"]))


def sky_frame_for(likelihood, priors, keys):
    """The sky frame for fitting densities over ``keys`` in an analysis with bilby ``likelihood``, or None.

    None unless ra and dec are sampled and the likelihood has at least two interferometers at different
    places. The reference time is the middle of the geocent_time prior (its value when fixed).
    """
    interferometers = getattr(likelihood, "interferometers", None)
    if not all(key in keys for key in SKY_KEYS) or interferometers is None or len(interferometers) < 2:
        return None
    if np.linalg.norm(np.asarray(interferometers[0].vertex) - np.asarray(interferometers[1].vertex)) == 0:
        return None
    time_prior = priors.get(TIME_KEY) if hasattr(priors, "get") else None
    if time_prior is None:
        reference_time = float(interferometers.start_time + interferometers.duration / 2)
    elif hasattr(time_prior, "minimum") and np.isfinite(time_prior.minimum) and np.isfinite(time_prior.maximum):
        reference_time = float(time_prior.minimum + time_prior.maximum) / 2
    else:
        reference_time = float(getattr(time_prior, "peak", interferometers.start_time))
    return SkyFrame.for_interferometers(interferometers, reference_time)
