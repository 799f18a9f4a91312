"""The training simulator against bilby's own detector response, whitening and noise."""

import bilby
import numpy as np
import pytest

from bilby_dingo.simulation.detector import antenna_patterns, ra_at_event_time, sidereal_time, time_delay_from_geocenter
from bilby_dingo.simulation.noise import PSDError, PSDFamily, load_psd, whitening_factor
from bilby_dingo.simulation.waveforms import REFERENCE_DISTANCE
from tests.simulation_fixtures import REFERENCE_TIME, SETTINGS, bilby_interferometers, make_simulator

RNG = np.random.default_rng(2024)
RA, DEC, PSI = RNG.uniform(0, 2 * np.pi, 40), np.arcsin(RNG.uniform(-1, 1, 40)), RNG.uniform(0, np.pi, 40)
TIMES = REFERENCE_TIME + RNG.uniform(-1e5, 1e5, 40)


@pytest.mark.parametrize("name", ["H1", "L1", "V1"])
def test_antenna_patterns_and_delays_match_bilby(name):
    ifo = bilby.gw.detector.get_empty_interferometer(name)
    f_plus, f_cross = antenna_patterns(ifo.geometry.detector_tensor, RA, DEC, TIMES, PSI)
    delays = time_delay_from_geocenter(ifo.geometry.vertex, RA, DEC, TIMES)
    for i in range(len(RA)):
        assert f_plus[i] == pytest.approx(ifo.antenna_response(RA[i], DEC[i], TIMES[i], PSI[i], "plus"), abs=1e-12)
        assert f_cross[i] == pytest.approx(ifo.antenna_response(RA[i], DEC[i], TIMES[i], PSI[i], "cross"), abs=1e-12)
        assert delays[i] == pytest.approx(ifo.time_delay_from_geocenter(RA[i], DEC[i], TIMES[i]), abs=1e-15)


LEAP_SECOND_GPS = 1167264018.0  # 2017-01-01 00:00:00 UTC, just after the leap second of 2016-12-31


@pytest.mark.parametrize("start", [1_126_259_462.4, 1_380_000_000.0, 1_900_000_000.0])
@pytest.mark.parametrize("span", [0.2, 10.0])
def test_sidereal_time_per_cell_is_bilbys_within_its_rounding(start, span):
    times = start + RNG.uniform(0, span, 4000)
    gmst = bilby.gw.utils.greenwich_mean_sidereal_time(times)
    # bilby's own value rounds to ~3e-9 rad (a Julian date in double precision).
    np.testing.assert_allclose(sidereal_time(times), gmst, rtol=0, atol=1e-8)


def test_sidereal_time_is_a_function_of_each_time_alone_and_calls_bilby_per_cell(monkeypatch):
    from bilby_dingo.simulation import detector

    times = REFERENCE_TIME + RNG.uniform(-0.1, 0.1, 4000)
    alone = sidereal_time(times[:10])
    for others in (REFERENCE_TIME - 5.3 + RNG.uniform(0, 20, 500), [np.nan], [REFERENCE_TIME + 1e6], []):
        mixed = sidereal_time(np.concatenate([times[:10], others]))
        np.testing.assert_array_equal(mixed[:10], alone)  # the other times in the array change nothing
    assert sidereal_time(times[3]) == alone[3] and np.shape(sidereal_time(times[3])) == ()
    assert np.isnan(sidereal_time(np.array([np.nan, REFERENCE_TIME]))[0])
    evaluated = []

    def counting(values):
        evaluated.append(np.size(values))
        return bilby.gw.utils.greenwich_mean_sidereal_time(values)

    monkeypatch.setattr(detector, "greenwich_mean_sidereal_time", counting)
    sidereal_time(times)
    assert sum(evaluated) <= 4  # a batch within ±0.1 s: the start and end of at most two cells


def test_sidereal_time_is_bilbys_across_a_leap_second_and_over_long_spans():
    across = LEAP_SECOND_GPS + np.linspace(-3, 3, 1001)
    gmst = bilby.gw.utils.greenwich_mean_sidereal_time(across)
    assert np.max(np.abs(np.diff(gmst))) > 5e-5  # bilby's GMST of GPS time jumps by a second of rotation here
    np.testing.assert_allclose(sidereal_time(across), gmst, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sidereal_time(TIMES), bilby.gw.utils.greenwich_mean_sidereal_time(TIMES), rtol=0,
                               atol=1e-8)


def test_training_projection_matches_bilby_antenna_response_and_delays():
    """The training simulator's geometry (sidereal time per cell) gives bilby's numbers to ~1e-9."""
    from bilby_dingo.simulation.detector import DetectorProjector

    ifos = bilby.gw.detector.InterferometerList(["H1", "L1"])
    times = REFERENCE_TIME + RNG.uniform(-0.1, 0.1, 40)
    projector = DetectorProjector(ifos, np.array([20.0, 100.0]), REFERENCE_TIME - 2)
    f_plus, f_cross, _, delays = projector.projection_coefficients_and_delays(RA, DEC, times, PSI)
    for column, ifo in enumerate(ifos):
        for i in range(len(RA)):
            assert f_plus[i, column] == pytest.approx(ifo.antenna_response(RA[i], DEC[i], times[i], PSI[i], "plus"),
                                                      abs=1e-8)
            assert f_cross[i, column] == pytest.approx(
                ifo.antenna_response(RA[i], DEC[i], times[i], PSI[i], "cross"), abs=1e-8)
            assert delays[i, column] == pytest.approx(ifo.time_delay_from_geocenter(RA[i], DEC[i], times[i]),
                                                      abs=1e-10)


def test_right_ascension_conversion_keeps_the_detector_frame_response():
    ifo = bilby.gw.detector.get_empty_interferometer("H1")
    offsets = RNG.uniform(-0.1, 0.1, 40)
    event_time = 1_300_000_000.0
    ra_event = ra_at_event_time(RA, REFERENCE_TIME + offsets, event_time + offsets)
    at_reference = antenna_patterns(ifo.geometry.detector_tensor, RA, DEC, REFERENCE_TIME + offsets, PSI)
    at_event = antenna_patterns(ifo.geometry.detector_tensor, ra_event, DEC, event_time + offsets, PSI)
    np.testing.assert_allclose(at_event, at_reference, atol=1e-9)
    np.testing.assert_allclose(
        time_delay_from_geocenter(ifo.geometry.vertex, ra_event, DEC, event_time + offsets),
        time_delay_from_geocenter(ifo.geometry.vertex, RA, DEC, REFERENCE_TIME + offsets), atol=1e-14)


def test_whitened_signal_matches_bilby_detector_response():
    simulator = make_simulator()
    ifos = bilby_interferometers()
    generator = SETTINGS.waveform_generator()
    mask = ifos[0].frequency_mask
    np.testing.assert_array_equal(mask, SETTINGS.band_mask())
    rng = np.random.default_rng(1)
    indices = np.arange(3)
    extrinsic = simulator.draw_extrinsic(3, rng)
    psd = np.stack([np.stack([ifo.power_spectral_density_array[mask] for ifo in ifos])] * 3)
    ours = simulator.whitened_signal(indices, extrinsic, psd)
    for i in indices:
        parameters = {key: value[i] for key, value in simulator.intrinsic_parameters.items()}
        parameters.update({key: value[i] for key, value in extrinsic.items()})
        parameters["geocent_time"] = REFERENCE_TIME + extrinsic["geocent_time"][i]
        polarisations = generator.frequency_domain_strain(parameters)
        for j, ifo in enumerate(ifos):
            full_response = ifo.get_detector_response(polarisations, parameters)
            response = full_response[mask]
            expected = response * whitening_factor(ifo.power_spectral_density_array[mask], SETTINGS.duration)
            relative = np.abs(ours[i, j] - expected) / np.abs(expected).max()
            assert relative.max() < 1e-4, f"{ifo.name}, sample {i}: max relative error {relative.max():.2e}"
            # and the whitened norm is bilby's optimal SNR squared
            assert np.sum(np.abs(ours[i, j]) ** 2) == pytest.approx(ifo.optimal_snr_squared(full_response).real, rel=1e-4)


def test_distance_scaling():
    simulator = make_simulator()
    extrinsic = simulator.draw_extrinsic(1, np.random.default_rng(0))
    psd = np.ones((1, 2, len(SETTINGS.frequencies())))
    near = simulator.whitened_signal([0], {**extrinsic, "luminosity_distance": np.array([REFERENCE_DISTANCE])}, psd)
    far = simulator.whitened_signal([0], {**extrinsic, "luminosity_distance": np.array([4 * REFERENCE_DISTANCE])}, psd)
    np.testing.assert_allclose(far, near / 4)


def test_whitened_noise_has_bilby_normalisation():
    """Whitened noise is standard normal in each part, and bilby's own noise whitens to the same."""
    simulator = make_simulator()
    rng = np.random.default_rng(3)
    inputs = simulator.simulate(np.zeros(200, dtype=int), rng, add_noise=True)["inputs"]
    noise_free = simulator.simulate(np.zeros(200, dtype=int), np.random.default_rng(3), add_noise=False)["inputs"]
    noise = (inputs - noise_free)[:, :, :2]
    assert noise.mean() == pytest.approx(0, abs=0.01)
    assert noise.std() == pytest.approx(1, abs=0.01)
    # bilby's Gaussian noise, whitened with bilby's PSD: also unit variance in each part.
    ifos = bilby_interferometers()
    bilby.core.utils.random.seed(5)
    ifo = ifos[0]
    ifo.set_strain_data_from_power_spectral_density(SETTINGS.sampling_frequency, SETTINGS.duration,
                                                    start_time=ifo.strain_data.start_time)
    mask = ifo.frequency_mask
    whitened = ifo.frequency_domain_strain[mask] * whitening_factor(ifo.power_spectral_density_array[mask],
                                                                   SETTINGS.duration)
    assert np.std(whitened.real) == pytest.approx(1, abs=0.05)
    assert np.std(whitened.imag) == pytest.approx(1, abs=0.05)
    # Σ|whitened|² is bilby's <n|n>.
    inner = bilby.gw.utils.noise_weighted_inner_product(
        ifo.frequency_domain_strain[mask], ifo.frequency_domain_strain[mask], ifo.power_spectral_density_array[mask],
        SETTINGS.duration)
    assert np.sum(np.abs(whitened) ** 2) == pytest.approx(inner.real, rel=1e-10)


def test_theta_columns_follow_the_inference_parameters():
    simulator = make_simulator(inference=("chirp_mass", "geocent_time", "luminosity_distance"))
    theta = simulator.simulate(np.array([2, 0]), np.random.default_rng(0))["theta"]
    assert theta.shape == (2, 3)
    np.testing.assert_array_equal(theta[:, 0], [35.0, 25.0])
    assert np.all(np.abs(theta[:, 1]) <= 0.1) and np.all(theta[:, 2] >= 300)


def test_psd_family_perturbations_are_smooth_and_bounded():
    family = PSDFamily(["aLIGO_early", "aLIGO_O4_high"], SETTINGS.frequencies(), perturbation_sigma=0.1,
                       perturbation_nodes=6, scale_range=(0.5, 2.0))
    log_psd = family.sample_log_psd((500, 2), np.random.default_rng(0))
    assert log_psd.shape == (500, 2, len(SETTINGS.frequencies()))
    deviation = np.minimum(np.abs(log_psd - family.log_psds[0]), np.abs(log_psd - family.log_psds[1]))
    assert deviation.max() < np.log(2) + 6 * 0.1
    single = PSDFamily(["aLIGO_O4_high"], SETTINGS.frequencies(), perturbation_sigma=0.1, perturbation_nodes=6)
    perturbation = single.sample_log_psd((500,), np.random.default_rng(1)) - single.log_psds[0]
    assert np.abs(np.diff(perturbation, axis=-1)).max() < 0.05  # smooth: no bin-to-bin noise
    assert perturbation.std() == pytest.approx(0.1, rel=0.3)


def test_psd_errors():
    with pytest.raises(PSDError, match="neither a file nor one of bilby's curves"):
        load_psd("aLIGO_nonexistent", SETTINGS.frequencies())


def test_psd_file_must_cover_the_band(tmp_path):
    path = tmp_path / "narrow_psd.txt"
    np.savetxt(path, np.column_stack([np.linspace(30, 400, 50), np.full(50, 1e-46)]))
    with pytest.raises(PSDError, match="covers 30-400 Hz, but the analysis band is 20-512 Hz"):
        load_psd(str(path), SETTINGS.frequencies())


def test_network_draws_of_ra_are_moved_to_the_event_sidereal_time():
    """A model trained at t_ref analysing an event years later (sidereal offset unrelated to a whole day):
    a network-frame (ra, dec, Δt) and the event-frame point the proposal reports give the same detector
    response, each at its own time; mapping back recovers the network-frame point."""
    from bilby_dingo.proposals.event_data import EventTiming
    from bilby_dingo.proposals.network import NetworkProposal

    proposal = NetworkProposal.__new__(NetworkProposal)
    proposal.metadata = dict(inference_parameters=["ra", "dec", "geocent_time"], reference_time=REFERENCE_TIME)
    trigger = REFERENCE_TIME + 1.7e8 + 12345.6
    proposal.event = EventTiming(trigger_time=trigger, time_range=(trigger - 0.1, trigger + 0.1))
    offsets = RNG.uniform(-0.1, 0.1, 40)
    event = proposal.to_event(np.column_stack([RA, DEC, offsets]))
    assert np.abs(np.angle(np.exp(1j * (event["ra"] - RA)))).min() > 0.01  # the shift is not trivial here
    np.testing.assert_allclose(event["geocent_time"], trigger + offsets)
    for name in ("H1", "L1"):
        ifo = bilby.gw.detector.get_empty_interferometer(name)
        for i in range(0, 40, 8):
            at_event = ifo.antenna_response(event["ra"][i], DEC[i], trigger + offsets[i], PSI[i], "plus")
            at_training = ifo.antenna_response(RA[i], DEC[i], REFERENCE_TIME + offsets[i], PSI[i], "plus")
            assert at_event == pytest.approx(at_training, abs=1e-8)
            assert ifo.time_delay_from_geocenter(event["ra"][i], DEC[i], trigger + offsets[i]) == pytest.approx(
                ifo.time_delay_from_geocenter(RA[i], DEC[i], REFERENCE_TIME + offsets[i]), abs=1e-12)
    back = proposal.to_network({key: event[key] for key in ("ra", "dec", "geocent_time")}, {})
    # Δt comes back through a GPS-sized time: float64 rounds it to ~2e-7 s.
    np.testing.assert_allclose(back, np.column_stack([RA, DEC, offsets]), rtol=0, atol=5e-7)
