"""The detector-baseline sky frame of fitted densities: an exact change of variables that straightens the ring."""

from dataclasses import replace

import bilby
import numpy as np
import pytest
from scipy import stats

from bilby_dingo.importance_sampling.draws import DrawStore
from bilby_dingo.importance_sampling.driver import ImportanceSamplingRun
from bilby_dingo.importance_sampling.refinement import ProposalRefinement
from bilby_dingo.importance_sampling.statistics import summarize
from bilby_dingo.proposals import PriorProposal
from bilby_dingo.proposals.fitted import FittedDensity
from bilby_dingo.proposals.sky_frame import SkyFrame, sky_frame_for
from bilby_dingo.settings import DingoSettings

TRIGGER = 1_400_000_000.0
KEYS = ["ra", "dec", "geocent_time"]


@pytest.fixture(scope="module")
def interferometers():
    return bilby.gw.detector.InterferometerList(["H1", "L1"])


@pytest.fixture(scope="module")
def frame(interferometers):
    return SkyFrame.for_interferometers(interferometers, TRIGGER)


def sky_priors():
    return bilby.core.prior.PriorDict(dict(
        ra=bilby.core.prior.Uniform(0, 2 * np.pi, "ra", boundary="periodic"),
        dec=bilby.core.prior.Cosine(name="dec"),
        geocent_time=bilby.core.prior.Uniform(TRIGGER - 0.1, TRIGGER + 0.1, "geocent_time")))


def uniform_draws(rng, n):
    return rng.uniform(0, 2 * np.pi, n), np.arcsin(rng.uniform(-1, 1, n)), TRIGGER + rng.uniform(-0.1, 0.1, n)


def test_frame_round_trip_and_detector_time_is_bilbys_arrival_time(frame, interferometers):
    ra, dec, time = uniform_draws(np.random.default_rng(1), 500)
    azimuth, zenith, detector_time, _ = frame.forward(ra, dec, time)
    back = frame.inverse(azimuth, zenith, detector_time)
    np.testing.assert_allclose(back[0], ra, atol=1e-10)
    np.testing.assert_allclose(back[1], dec, atol=1e-10)
    np.testing.assert_allclose(back[2], time, atol=1e-9, rtol=0)
    # At the reference time the detector time is the arrival time at the first detector (bilby's delay),
    # and the zenith is set by the delay between the detectors: cos(zenith) = delay / light travel time.
    at_reference = frame.forward(ra[:20], dec[:20], np.full(20, TRIGGER))
    first = [interferometers[0].time_delay_from_geocenter(r, d, TRIGGER) for r, d in zip(ra[:20], dec[:20])]
    second = [interferometers[1].time_delay_from_geocenter(r, d, TRIGGER) for r, d in zip(ra[:20], dec[:20])]
    np.testing.assert_allclose(at_reference[2], first, atol=1e-12)
    light_time = np.linalg.norm(interferometers[1].vertex - interferometers[0].vertex) / 299_792_458.0
    np.testing.assert_allclose((np.array(second) - first) / np.cos(at_reference[1]), -light_time, rtol=1e-9)


def test_log_jacobian_matches_finite_differences(frame):
    ra, dec, time = uniform_draws(np.random.default_rng(2), 5)
    for point in np.column_stack([ra, dec, time]):
        steps = np.array([1e-6, 1e-6, 1e-2])  # the time is ~1.4e9: a step far above its rounding
        jacobian = np.empty((3, 3))
        for k in range(3):
            up, down = point.copy(), point.copy()
            up[k] += steps[k]
            down[k] -= steps[k]
            forward_up = np.array(frame.forward(*[np.array([v]) for v in up])[:3]).ravel()
            forward_down = np.array(frame.forward(*[np.array([v]) for v in down])[:3]).ravel()
            jacobian[:, k] = (forward_up - forward_down) / (2 * steps[k])
        expected = frame.forward(*[np.array([v]) for v in point])[3][0]
        assert np.log(abs(np.linalg.det(jacobian))) == pytest.approx(expected, abs=1e-5)


def test_density_in_the_frame_is_normalised_and_survives_storage(frame):
    rng = np.random.default_rng(3)
    ra, dec, time = uniform_draws(rng, 4000)
    azimuth, zenith, detector_time, _ = frame.forward(ra, dec, time)
    weights = np.exp(-0.5 * (detector_time / 0.004) ** 2 - 0.5 * ((zenith - 1.2) / 0.1) ** 2)
    density = FittedDensity.fit(sky_priors(), KEYS, np.column_stack([ra, dec, time]), weights, rng, sky_frame=frame)
    # E_r[q / r] = 1 with r the prior (uniform on the sphere and in time), which covers q's support
    # except for draws past the time prior's ends (a negligible share here).
    ra, dec, time = uniform_draws(rng, 400_000)
    log_reference = np.log(np.cos(dec) / 2) - np.log(2 * np.pi) - np.log(0.2)
    ratio = np.exp(density.log_prob(dict(ra=ra, dec=dec, geocent_time=time)) - log_reference)
    assert ratio.mean() == pytest.approx(1, abs=4 * ratio.std() / np.sqrt(ratio.size))
    assert ratio.std() / np.sqrt(ratio.size) < 0.05
    stored = FittedDensity.from_arrays(KEYS, density.to_arrays())
    draws = density.sample(50, rng)
    np.testing.assert_array_equal(stored.log_prob(draws), density.log_prob(draws))
    assert stored.digest() == density.digest() != FittedDensity.from_arrays(
        KEYS, {key: value for key, value in density.to_arrays().items() if not key.startswith("sky_frame_")}).digest()


def test_sky_frame_for_needs_two_separate_detectors_and_the_sky(interferometers):
    priors = sky_priors()
    assert sky_frame_for(object(), priors, KEYS) is None
    assert sky_frame_for(type("L", (), dict(interferometers=interferometers[:1]))(), priors, KEYS) is None
    assert sky_frame_for(type("L", (), dict(interferometers=interferometers))(), priors, ["ra", "geocent_time"]) is None
    frame = sky_frame_for(type("L", (), dict(interferometers=interferometers))(), priors, KEYS)
    assert frame.reference_time == TRIGGER


def ring_log_likelihood(frame, zenith_cos=0.3, zenith_cos_sd=0.02, time_sd=0.002):
    """A two-detector-like likelihood: the delay fixes cos(zenith), the first detector's time is measured."""

    def log_likelihood(theta):
        _, zenith, detector_time, _ = frame.forward(theta[:, 0], theta[:, 1], theta[:, 2])
        return (stats.norm.logpdf(np.cos(zenith), zenith_cos, zenith_cos_sd)
                + stats.norm.logpdf(detector_time, 0, time_sd))

    # Z = ∫ L π: the sky is uniform on the sphere, so cos(zenith) is uniform on [-1, 1]; the detector time
    # (±10 ms from the geocentre's) lies far inside the ±0.1 s time prior, whose density is 1/0.2.
    cos_mass = stats.norm.cdf(1, zenith_cos, zenith_cos_sd) - stats.norm.cdf(-1, zenith_cos, zenith_cos_sd)
    return log_likelihood, np.log(cos_mass / 2 / 0.2)


@pytest.mark.parametrize("seed", [0, 1])
def test_ring_evidence_is_unbiased_and_the_frame_sharpens_the_proposal(frame, seed):
    log_likelihood, log_evidence = ring_log_likelihood(frame)
    priors = sky_priors()
    # No tempered share: what is compared is the rounds' fits in the two coordinate systems (a tempered share,
    # also fitted in each, makes both proposals broader and the gap between them smaller).
    settings = replace(DingoSettings.from_kwargs(dict(target_n_eff=2000)), refine_draws=4000, batch_size=4000,
                       refine_max_rounds=6, refine_tempered_share=0.0)
    efficiencies = {}
    for name, sky_frame in (("frame", frame), ("ra-dec", None)):
        refinement = ProposalRefinement(PriorProposal(priors, KEYS), priors, KEYS, log_likelihood, settings, seed,
                                        np.random.default_rng([seed, 1]), sky_frame=sky_frame).run()
        final = ImportanceSamplingRun(refinement.proposal, priors, KEYS, log_likelihood, settings,
                                      np.random.default_rng([seed, 2]), DrawStore(KEYS, "test", seed)).run()
        summary = summarize(final.evaluated_log_weights())
        assert abs(summary.log_evidence - log_evidence) < 4 * summary.log_evidence_std, name
        efficiencies[name] = summary.sample_efficiency
    assert efficiencies["frame"] > 0.5
    assert efficiencies["frame"] > 1.5 * efficiencies["ra-dec"]
