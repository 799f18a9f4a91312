"""A density fitted to weighted draws: a Student-t mixture in an unbounded, standardised space.

Used by adaptive refinement (:mod:`bilby_dingo.importance_sampling.refinement`) to turn a broad but
mass-covering proposal into a sharp one. Each parameter is mapped to the real line according to its
bilby prior, so that the fit never draws outside the prior's bounds and handles edges and wrap-around:

- bounded (finite minimum and maximum): y = logit((x − a) / (b − a));
- periodic (``boundary="periodic"``, e.g. ra, psi): the circle is cut opposite the draws' circular mean,
  then as bounded, so that a posterior straddling 0 = 2π stays in one piece;
- otherwise: y = x.

The y are standardised by their weighted mean and standard deviation, and a mixture of multivariate
Student-t components is fitted there by weighted EM (Gaussian EM; each component then becomes a
Student-t with the fitted covariance, whose heavier tails keep importance weights bounded), with the
number of components chosen by two-fold cross-validation of the weighted log density. The density of
x is the mixture's density of y times the Jacobian |dy/dx|, exactly.

Everything is plain arrays (:meth:`FittedDensity.to_arrays`), so a checkpoint holds it without pickle.
"""

import hashlib

import numpy as np
from scipy.special import gammaln, logsumexp

from .base import Proposal
from .fitted_flow import SplineFlowDensity
from .sky_frame import SKY_KEYS, TIME_KEY, SkyFrame

AFFINE, BOUNDED, PERIODIC = 0, 1, 2
COMPONENT_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16)
COVARIANCE_INFLATION = 1.3  # fitted component covariances are scaled by this: fits to few effective draws are overconfident (measured on the quickstart injection: steady gains with 1.3, stalls with 1.0)
DEFAULT_DOF = 10.0  # Student-t tails of each component (covariance kept equal to the fitted one)
STUDENT_T, FLOW = "student-t", "flow"
FAMILIES = (STUDENT_T, FLOW)
REGULARISATION = 1e-6  # added to every covariance, in units of the standardised variables


class UnboundedTransform:
    """x (n, D) in the prior's bounds ↔ y (n, D) on the real line, with log |dy/dx|.

    Parameters
    ----------
    kinds: array of int, shape (D,)
        AFFINE, BOUNDED or PERIODIC per parameter.
    lower, upper: arrays, shape (D,)
        Bounds (unused for AFFINE).
    cut: array, shape (D,)
        Where a periodic parameter's circle is cut (unused otherwise).
    """

    def __init__(self, kinds, lower, upper, cut):
        self.kinds = np.asarray(kinds, dtype=int)
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        self.cut = np.asarray(cut, dtype=float)

    @classmethod
    def for_ranges(cls, ranges, theta, weights):
        """The transform of columns with ``ranges`` [(kind, lower, upper), ...]; periodic cuts from the draws."""
        kinds, lower, upper, cut = [], [], [], []
        for i, (kind, minimum, maximum) in enumerate(ranges):
            periodic = kind == PERIODIC
            kinds.append(kind)
            lower.append(minimum)
            upper.append(maximum)
            if periodic:
                period = maximum - minimum
                angle = 2 * np.pi * (theta[:, i] - minimum) / period
                mean_angle = np.arctan2(np.sum(weights * np.sin(angle)), np.sum(weights * np.cos(angle)))
                # Cut the circle opposite the weighted circular mean.
                cut.append(minimum + period * np.mod(mean_angle / (2 * np.pi) + 0.5, 1.0))
            else:
                cut.append(0.0)
        return cls(kinds, lower, upper, cut)

    def _unit(self, x):
        """Position in (0, 1) of bounded and periodic parameters (x for affine ones)."""
        width = self.upper - self.lower
        unit = (x - self.lower) / width
        periodic = self.kinds == PERIODIC
        if np.any(periodic):
            unit[:, periodic] = np.mod(x[:, periodic] - self.cut[periodic], width[periodic]) / width[periodic]
        return unit

    def forward(self, x):
        """y and log |dy/dx| (summed over parameters) of x (n, D); log |dy/dx| = −inf outside the bounds
        (the fitted density is zero there: it never draws there)."""
        x = np.asarray(x, dtype=float)
        y = np.array(x, dtype=float)
        log_jacobian = np.zeros(len(x))
        squash = self.kinds != AFFINE
        if np.any(squash):
            unit = self._unit(x)[:, squash]
            inside = np.all((unit > 0) & (unit < 1) & (x[:, squash] >= self.lower[squash])
                            & (x[:, squash] <= self.upper[squash]), axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                y[:, squash] = np.log(unit) - np.log1p(-unit)
                terms = -np.log((self.upper - self.lower)[squash]) - np.log(unit) - np.log1p(-unit)
            log_jacobian = np.where(inside, terms.sum(axis=1), -np.inf)
            y[~inside] = 0.0  # any finite value: these points get density zero through log_jacobian
        return y, log_jacobian

    def inverse(self, y):
        """x of y (n, D)."""
        x = np.array(y, dtype=float)
        squash = self.kinds != AFFINE
        if np.any(squash):
            width = (self.upper - self.lower)[squash]
            unit = 1.0 / (1.0 + np.exp(-y[:, squash]))
            values = self.lower[squash] + unit * width
            periodic = (self.kinds == PERIODIC)[squash]
            if np.any(periodic):
                start = self.cut[squash][periodic]
                low = self.lower[squash][periodic]
                values[:, periodic] = low + np.mod(start - low + unit[:, periodic] * width[periodic], width[periodic])
            x[:, squash] = values
        return x


def range_of_prior(prior):
    """(kind, lower, upper) of a bilby prior: BOUNDED or PERIODIC within finite bounds, AFFINE otherwise."""
    minimum, maximum = float(getattr(prior, "minimum", -np.inf)), float(getattr(prior, "maximum", np.inf))
    if not (np.isfinite(minimum) and np.isfinite(maximum) and maximum > minimum):
        return AFFINE, 0.0, 1.0
    return (PERIODIC if getattr(prior, "boundary", None) == "periodic" else BOUNDED), minimum, maximum


class StudentTMixture:
    """Σ_k π_k t_ν(y; μ_k, Σ_k (ν − 2)/ν): components with covariance Σ_k and Student-t tails.

    Parameters
    ----------
    log_weights: array (K,); means: array (K, D); covariances: array (K, D, D); dof: float (> 2)
    """

    def __init__(self, log_weights, means, covariances, dof=DEFAULT_DOF):
        self.log_weights = np.asarray(log_weights, dtype=float)
        self.means = np.asarray(means, dtype=float)
        self.covariances = np.asarray(covariances, dtype=float)
        self.dof = float(dof)
        scale = self.covariances * (self.dof - 2) / self.dof
        self._cholesky = np.linalg.cholesky(scale)
        self._log_det = 2 * np.log(np.diagonal(self._cholesky, axis1=1, axis2=2)).sum(axis=1)

    @property
    def num_components(self):
        return len(self.log_weights)

    def describe(self):
        return f"{self.num_components}-component Student-t mixture"

    def to_arrays(self):
        return dict(log_weights=self.log_weights, means=self.means, covariances=self.covariances,
                    dof=np.array(self.dof))

    @classmethod
    def from_arrays(cls, arrays):
        return cls(arrays["log_weights"], arrays["means"], arrays["covariances"], float(arrays["dof"]))

    def component_log_prob(self, y):
        """log π_k + log t(y; component k), shape (n, K)."""
        n, dim = y.shape
        nu = self.dof
        out = np.empty((n, self.num_components))
        constant = gammaln((nu + dim) / 2) - gammaln(nu / 2) - dim / 2 * np.log(nu * np.pi)
        for k in range(self.num_components):
            z = (y - self.means[k]) @ np.linalg.inv(self._cholesky[k]).T
            mahalanobis = np.sum(z**2, axis=1)
            out[:, k] = (self.log_weights[k] + constant - self._log_det[k] / 2
                         - (nu + dim) / 2 * np.log1p(mahalanobis / nu))
        return out

    def log_prob(self, y):
        return logsumexp(self.component_log_prob(y), axis=1)

    def sample(self, n, rng):
        dim = self.means.shape[1]
        counts = rng.multinomial(n, np.exp(self.log_weights - logsumexp(self.log_weights)))
        parts = []
        for k, count in enumerate(counts):
            if count:
                z = rng.standard_normal((count, dim)) @ self._cholesky[k].T
                scale = np.sqrt(rng.chisquare(self.dof, count) / self.dof)
                parts.append(self.means[k] + z / scale[:, None])
        y = np.concatenate(parts) if parts else np.empty((0, dim))
        return y[rng.permutation(n)]


def _gaussian_component_log_prob(y, log_weights, means, covariances):
    n, dim = y.shape
    out = np.empty((n, len(log_weights)))
    for k in range(len(log_weights)):
        cholesky = np.linalg.cholesky(covariances[k])
        z = (y - means[k]) @ np.linalg.inv(cholesky).T
        out[:, k] = (log_weights[k] - 0.5 * np.sum(z**2, axis=1) - np.log(np.diagonal(cholesky)).sum()
                     - dim / 2 * np.log(2 * np.pi))
    return out


def fit_gaussian_mixture(y, weights, num_components, rng, iterations=100, tolerance=1e-4):
    """Weighted EM for a Gaussian mixture: (log_weights, means, covariances).

    ``weights`` (n,) are normalised here; the effective number of points, (Σw)²/Σw², sets how small a
    component may become (at least 2 (D + 1) effective points) before it is dropped.
    """
    n, dim = y.shape
    weights = np.asarray(weights, dtype=float) / np.sum(weights)
    n_eff = 1.0 / np.sum(weights**2)
    min_share = 2.0 * (dim + 1) / n_eff
    # Weighted k-means++ seeding, then one hard assignment.
    centres = [y[rng.choice(n, p=weights)]]
    for _ in range(1, num_components):
        distance = np.min([np.sum((y - c) ** 2, axis=1) for c in centres], axis=0)
        p = weights * distance
        if not p.sum() > 0:
            break
        centres.append(y[rng.choice(n, p=p / p.sum())])
    centres = np.array(centres)
    nearest = np.argmin(((y[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    responsibilities = np.eye(len(centres))[nearest]
    previous = -np.inf
    for _ in range(iterations):
        # M step (components with too little weight are dropped: their covariance is not determined).
        shares = weights @ responsibilities
        keep = shares >= min_share
        if not np.any(keep):
            keep = shares == shares.max()
        responsibilities, shares = responsibilities[:, keep], shares[keep]
        weighted = weights[:, None] * responsibilities
        means = (weighted.T @ y) / shares[:, None]
        covariances = np.empty((len(shares), dim, dim))
        for k in range(len(shares)):
            centred = y - means[k]
            covariances[k] = (weighted[:, k, None] * centred).T @ centred / shares[k] + REGULARISATION * np.eye(dim)
        log_mixture = np.log(shares / shares.sum())
        # E step
        joint = _gaussian_component_log_prob(y, log_mixture, means, covariances)
        log_density = logsumexp(joint, axis=1)
        responsibilities = np.exp(joint - log_density[:, None])
        score = float(weights @ log_density)
        if score - previous < tolerance:
            break
        previous = score
    return log_mixture, means, covariances


class FittedDensity:
    """A normalised density over ``keys``: :class:`StudentTMixture` of standardised transformed values.

    With a :class:`bilby_dingo.proposals.sky_frame.SkyFrame`, ra, dec (and geocent_time) are first mapped
    to the detector-baseline frame (azimuth, zenith, detector time), where a two-detector posterior is
    nearly Gaussian; the density of the original parameters carries that map's exact Jacobian.

    Build with :meth:`fit`; rebuild from :meth:`to_arrays` with :meth:`from_arrays`.
    """

    def __init__(self, keys, transform, centre, scale, standardised_density, sky_frame=None):
        self.keys = list(keys)
        self.transform = transform
        self.centre = np.asarray(centre, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        # A StudentTMixture or a SplineFlowDensity of the standardised values: log_prob(y), sample(n, rng),
        # describe(), num_components, to_arrays().
        self.standardised_density = standardised_density
        self.sky_frame = sky_frame
        if sky_frame is not None and not all(key in self.keys for key in SKY_KEYS):
            raise ValueError(f"A sky frame needs ra and dec among the fitted parameters {self.keys}.")

    @classmethod
    def fit(cls, priors, keys, theta, weights, rng, max_components=8, dof=DEFAULT_DOF, sky_frame=None,
            family=STUDENT_T, previous=None):
        """Fit to draws ``theta`` (n, D) (columns ``keys``) with non-negative ``weights`` (n,).

        ``family``: "student-t" (a Student-t mixture of up to ``max_components`` components) or "flow"
        (:class:`bilby_dingo.proposals.fitted_flow.SplineFlowDensity`); a flow's training starts from
        ``previous``'s flow (a FittedDensity) when given.
        """
        if family not in FAMILIES:
            raise ValueError(f"Unknown density family {family!r}: use one of {FAMILIES}.")
        theta = np.asarray(theta, dtype=float)
        weights = np.asarray(weights, dtype=float)
        ranges = [range_of_prior(priors[key]) for key in keys]
        if sky_frame is not None:
            theta, _ = cls._frame_coordinates(sky_frame, keys, theta)
            for key, kind_range in ((SKY_KEYS[0], (PERIODIC, 0.0, 2 * np.pi)), (SKY_KEYS[1], (BOUNDED, 0.0, np.pi)),
                                    (TIME_KEY, (AFFINE, 0.0, 1.0))):
                if key in keys:
                    ranges[list(keys).index(key)] = kind_range
        transform = UnboundedTransform.for_ranges(ranges, theta, weights)
        y, log_jacobian = transform.forward(theta)
        usable = np.isfinite(log_jacobian) & (weights > 0)
        y, weights = y[usable], weights[usable] / weights[usable].sum()
        centre = weights @ y
        scale = np.sqrt(weights @ (y - centre) ** 2) + 1e-12
        standardised = (y - centre) / scale
        if family == FLOW:
            start = getattr(previous, "standardised_density", None)
            flow = SplineFlowDensity.fit(standardised, weights, rng,
                                         start=start if isinstance(start, SplineFlowDensity) else None)
            return cls(keys, transform, centre, scale, flow, sky_frame)
        num_components = select_num_components(standardised, weights, rng, max_components)
        log_mixture, means, covariances = fit_gaussian_mixture(standardised, weights, num_components, rng)
        return cls(keys, transform, centre, scale,
                   StudentTMixture(log_mixture, means, COVARIANCE_INFLATION * covariances, dof), sky_frame)

    @staticmethod
    def _frame_coordinates(sky_frame, keys, x):
        """x with ra, dec (geocent_time) replaced by the frame's azimuth, zenith (detector time), and the
        log Jacobian of that replacement."""
        keys = list(keys)
        ra, dec = keys.index(SKY_KEYS[0]), keys.index(SKY_KEYS[1])
        time = keys.index(TIME_KEY) if TIME_KEY in keys else None
        azimuth, zenith, detector_time, log_jacobian = sky_frame.forward(
            x[:, ra], x[:, dec], None if time is None else x[:, time])
        framed = np.array(x, dtype=float)
        framed[:, ra], framed[:, dec] = azimuth, zenith
        if time is not None:
            framed[:, time] = detector_time
        return framed, log_jacobian

    def _from_frame(self, framed):
        ra, dec = self.keys.index(SKY_KEYS[0]), self.keys.index(SKY_KEYS[1])
        time = self.keys.index(TIME_KEY) if TIME_KEY in self.keys else None
        x = np.array(framed, dtype=float)
        x[:, ra], x[:, dec], geocent_time = self.sky_frame.inverse(
            framed[:, ra], framed[:, dec], None if time is None else framed[:, time])
        if time is not None:
            x[:, time] = geocent_time
        return x

    def log_prob(self, samples):
        """log density at the points ``samples`` (dict of arrays with at least ``keys``), shape (n,)."""
        x = np.column_stack([np.asarray(samples[key], dtype=float) for key in self.keys])
        frame_log_jacobian = 0.0
        if self.sky_frame is not None:
            x, frame_log_jacobian = self._frame_coordinates(self.sky_frame, self.keys, x)
        y, log_jacobian = self.transform.forward(x)
        log_jacobian = log_jacobian + frame_log_jacobian
        log_prob = np.full(len(x), -np.inf)
        inside = np.isfinite(log_jacobian)
        log_prob[inside] = (self.standardised_density.log_prob((y[inside] - self.centre) / self.scale)
                            - np.log(self.scale).sum() + log_jacobian[inside])
        return log_prob

    def sample(self, n, rng):
        """n draws as a dict of arrays keyed by ``keys``."""
        y = self.standardised_density.sample(n, rng) * self.scale + self.centre
        x = self.transform.inverse(y)
        if self.sky_frame is not None:
            x = self._from_frame(x)
        return {key: x[:, i] for i, key in enumerate(self.keys)}

    def describe(self):
        return self.standardised_density.describe() + (
            "" if self.sky_frame is None else " in the detector-baseline sky frame")

    @property
    def num_components(self):
        return self.standardised_density.num_components

    def to_arrays(self):
        """Every number that defines the density, as arrays (for a pickle-free checkpoint)."""
        arrays = dict(kinds=self.transform.kinds, lower=self.transform.lower, upper=self.transform.upper,
                      cut=self.transform.cut, centre=self.centre, scale=self.scale)
        prefix = "flow_" if isinstance(self.standardised_density, SplineFlowDensity) else ""
        arrays.update({prefix + name: value for name, value in self.standardised_density.to_arrays().items()})
        if self.sky_frame is not None:
            arrays.update({f"sky_frame_{name}": value for name, value in self.sky_frame.to_arrays().items()})
        return arrays

    @classmethod
    def from_arrays(cls, keys, arrays):
        transform = UnboundedTransform(arrays["kinds"], arrays["lower"], arrays["upper"], arrays["cut"])
        flow = arrays_under_prefix(arrays, "flow_")
        density = SplineFlowDensity.from_arrays(flow) if flow else StudentTMixture.from_arrays(arrays)
        frame = arrays_under_prefix(arrays, "sky_frame_")
        return cls(keys, transform, arrays["centre"], arrays["scale"], density,
                   SkyFrame.from_arrays(frame) if frame else None)

    def digest(self):
        """A short hash of every defining number: two densities share it only if they are identical."""
        hasher = hashlib.sha256(" ".join(self.keys).encode())
        for key, value in sorted(self.to_arrays().items()):
            hasher.update(key.encode())
            hasher.update(np.ascontiguousarray(value, dtype=float).tobytes())
        return hasher.hexdigest()[:16]


def arrays_under_prefix(arrays, prefix):
    """The arrays whose names start with ``prefix``, under their names without it: one part of a density stored
    among others (a flow's or a sky frame's in a density's arrays, one density's in a refinement state file)."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


class DensityEnsemble:
    """The mixture Σ_k s_k q_k of fitted densities over the same parameters (equal shares s_k = 1/K by default).

    Refinement's fits from successive rounds are noisy estimates of one posterior; their average misses
    less of it than any one of them (the χ² divergence that sets the efficiency is convex in the proposal).
    Unequal shares mix such an average with a broader fit (the frozen proposal's tempered share).
    """

    def __init__(self, members, shares=None):
        self.members = list(members)
        self.keys = list(self.members[0].keys)
        if any(sorted(member.keys) != sorted(self.keys) for member in self.members):
            raise ValueError("The densities of an ensemble must cover the same parameters.")
        self.shares = None if shares is None else np.asarray(shares, dtype=float)
        if self.shares is not None and (self.shares.shape != (len(self.members),) or np.any(self.shares <= 0)
                                        or abs(self.shares.sum() - 1) > 1e-12):
            raise ValueError(f"Ensemble shares {shares}: one positive share per member, summing to 1.")

    def _shares(self):
        return np.full(len(self.members), 1 / len(self.members)) if self.shares is None else self.shares

    def log_prob(self, samples):
        return logsumexp([np.log(share) + member.log_prob(samples)
                          for share, member in zip(self._shares(), self.members)], axis=0)

    def sample(self, n, rng):
        counts = rng.multinomial(n, self._shares())
        parts = [member.sample(count, rng) for member, count in zip(self.members, counts) if count]
        order = rng.permutation(n)
        return {key: np.concatenate([part[key] for part in parts])[order] for key in self.keys}

    def describe(self):
        if self.shares is None:
            return f"equal mixture of {len(self.members)} fitted densities ({self.members[0].describe()})"
        return " + ".join(f"{share:.2g} × ({member.describe()})" for share, member in zip(self.shares, self.members))

    @property
    def num_components(self):
        return sum(member.num_components for member in self.members)

    def digest(self):
        hasher = hashlib.sha256(b"ensemble")
        for member in self.members:
            hasher.update(member.digest().encode())
        if self.shares is not None:
            hasher.update(np.ascontiguousarray(self.shares).tobytes())
        return hasher.hexdigest()[:16]


def select_num_components(y, weights, rng, max_components):
    """The number of mixture components with the best two-fold cross-validated weighted log density."""
    choices = [k for k in COMPONENT_CHOICES if k <= max_components] or [1]
    if len(choices) == 1:
        return choices[0]
    halves = rng.permutation(len(y)) % 2 == 0
    best, best_score, worse = choices[0], -np.inf, 0
    for k in choices:
        score = 0.0
        for train in (halves, ~halves):
            test = ~train
            if weights[train].sum() <= 0 or weights[test].sum() <= 0:
                return 1
            log_mixture, means, covariances = fit_gaussian_mixture(y[train], weights[train], k, rng)
            log_density = logsumexp(_gaussian_component_log_prob(y[test], log_mixture, means, covariances), axis=1)
            score += weights[test] @ log_density / weights[test].sum()
        if score > best_score:
            best, best_score, worse = k, score, 0
        else:
            worse += 1
            if worse == 2:
                break
    return best


class FittedProposal(Proposal):
    """A :class:`FittedDensity` on its own as a proposal (sampling and density)."""

    def __init__(self, density):
        self.density = density
        self.parameter_keys = list(density.keys)

    def describe(self):
        return f"fitted {self.density.describe()} over {self.parameter_keys} ({self.density.digest()})"

    def sample_and_log_prob(self, n, rng):
        samples = self.density.sample(n, rng)
        return samples, self.density.log_prob(samples)

    def log_prob(self, samples, auxiliary=None):
        return self.density.log_prob(samples)
