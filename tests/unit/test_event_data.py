"""The event against the model: time alignment on the data's own sample grid, prior overhangs, and the
network input built from bilby's windowed data with bilby's PSD convention."""

import logging

import bilby
import numpy as np
import pytest

from bilby_dingo.proposals.event_data import (
    ModelScopeError,
    check_event_against_model,
    network_input_from_likelihood,
)

TRIGGER = 1167559936.6  # GW170104's catalogue time: 0.6 s is off a 1/512 s grid anchored on whole seconds
SAMPLING_FREQUENCY = 256.0
METADATA = dict(
    detectors=["H1", "L1"], duration=4.0, sampling_frequency=SAMPLING_FREQUENCY, minimum_frequency=20.0,
    maximum_frequency=100.0, waveform_approximant="IMRPhenomD", reference_frequency=20.0, post_trigger_duration=2.0,
    deltaT=0.2, prior_bounds={"chirp_mass": [20.0, 50.0], "mass_ratio": [0.25, 1.0]}, num_bins=321,
)


def likelihood_for(start_time, roll_off=0.0, seed=3):
    """bilby's likelihood on Gaussian noise (O4 curve) for data starting at ``start_time``, set in the
    time domain so that bilby applies its Tukey window of ``roll_off`` seconds."""
    rng = np.random.default_rng(seed)
    interferometers = bilby.gw.detector.InterferometerList(METADATA["detectors"])
    n = int(METADATA["duration"] * SAMPLING_FREQUENCY)
    for ifo in interferometers:
        ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity.from_amplitude_spectral_density_file(
            "aLIGO_O4_high_asd.txt")
        ifo.strain_data.roll_off = roll_off
        ifo.strain_data.set_from_time_domain_strain(1e-21 * rng.standard_normal(n), sampling_frequency=SAMPLING_FREQUENCY,
                                                    duration=METADATA["duration"], start_time=start_time)
        ifo.minimum_frequency, ifo.maximum_frequency = 20.0, 100.0
    generator = bilby.gw.WaveformGenerator(
        duration=METADATA["duration"], sampling_frequency=SAMPLING_FREQUENCY,
        frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole,
        waveform_arguments=dict(waveform_approximant="IMRPhenomD", reference_frequency=20.0))
    return bilby.gw.likelihood.GravitationalWaveTransient(interferometers, generator)


def priors_around(trigger_time, low=-0.1, high=0.1, chirp_mass=(25.0, 35.0)):
    priors = bilby.gw.prior.BBHPriorDict()
    priors["chirp_mass"] = bilby.core.prior.Uniform(*chirp_mass, name="chirp_mass")
    priors["mass_ratio"] = bilby.core.prior.Uniform(0.5, 1, name="mass_ratio")
    priors["geocent_time"] = bilby.core.prior.Uniform(trigger_time + low, trigger_time + high, name="geocent_time")
    return priors


def grid_start(trigger_time, sampling_frequency):
    """The segment start a user gets by resampling first and cropping second: snapped to the grid."""
    start = trigger_time + 2.0 - 4.0
    return np.floor(start * sampling_frequency) / sampling_frequency


class Records(logging.Handler):
    """Collects bilby's log records (bilby's logger does not propagate to pytest's caplog)."""

    def __enter__(self):
        self.messages = []
        self.emit = lambda record: self.messages.append((record.levelno, record.getMessage()))
        self.logger = logging.getLogger("bilby")
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *args):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)

    def warnings(self):
        return [message for level, message in self.messages if level >= logging.WARNING]


def test_a_trigger_time_off_the_sample_grid_by_less_than_a_sample_is_accepted():
    start = grid_start(TRIGGER, SAMPLING_FREQUENCY)
    offset = TRIGGER + 2.0 - 4.0 - start
    assert 0 < offset < 1 / SAMPLING_FREQUENCY  # the situation of the issue: the prior overhangs by `offset`
    with Records() as records:
        timing = check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER))
    # The model's window is anchored on the data segment, not on the catalogue time.
    assert timing.trigger_time == pytest.approx(start + 2.0, abs=1e-9)
    assert timing.time_range == pytest.approx((start + 1.9, start + 2.1), abs=1e-9)
    assert records.warnings() == []
    assert any("at most one sample" in message for _, message in records.messages)


@pytest.mark.parametrize("side", ["low", "high"])
def test_a_time_prior_beyond_the_trained_window_by_more_than_a_sample_warns_with_the_mass_outside(side):
    start = TRIGGER + 2.0 - 4.0  # on the grid: the window is exactly TRIGGER ± 0.1 s
    bounds = dict(low=(-0.12, 0.1), high=(-0.1, 0.12))[side]
    with Records() as records:
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER, *bounds))
    (message,) = records.warnings()
    assert "geocent_time prior" in message and "about 9.1% of its mass lies outside" in message, message


def test_a_time_prior_one_sample_beyond_is_still_accepted_and_two_are_not():
    start = TRIGGER + 2.0 - 4.0
    sample = 1 / SAMPLING_FREQUENCY
    with Records() as records:
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER, -0.1 - sample, 0.1))
    assert records.warnings() == []
    with Records() as records:
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER, -0.1 - 2 * sample, 0.1))
    assert len(records.warnings()) == 1


def test_a_fixed_time_less_than_a_sample_outside_the_window_is_accepted():
    start = TRIGGER + 2.0 - 4.0
    fixed = priors_around(TRIGGER)
    fixed["geocent_time"] = bilby.core.prior.DeltaFunction(TRIGGER + 0.1 + 0.5 / SAMPLING_FREQUENCY)
    with Records() as records:
        check_event_against_model(METADATA, likelihood_for(start), fixed)
    assert records.warnings() == []


def test_a_time_prior_outside_the_trained_window_is_an_error_naming_the_window():
    start = TRIGGER + 2.0 - 4.0
    with pytest.raises(ModelScopeError, match=r"spans .* the model covers .*none of it is covered"):
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER + 1.0))
    fixed = priors_around(TRIGGER)
    fixed["geocent_time"] = TRIGGER + 0.5
    with pytest.raises(ModelScopeError, match="none of it is covered"):
        check_event_against_model(METADATA, likelihood_for(start), fixed)


def test_a_chirp_mass_prior_below_the_models_scope_is_an_error_naming_the_scope():
    start = TRIGGER + 2.0 - 4.0
    with pytest.raises(ModelScopeError, match=r"chirp_mass \(5-15\) lies entirely outside the model's training "
                                              r"prior \[20, 50\].*train_low_mass.ini"):
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER, chirp_mass=(5, 15)))
    with Records() as records:
        check_event_against_model(METADATA, likelihood_for(start), priors_around(TRIGGER, chirp_mass=(15, 35)))
    (message,) = records.warnings()
    assert "training prior [20, 50]" in message and "25.0% of its mass" in message and "train_low_mass" in message


@pytest.mark.parametrize("incorrect_normalisation", [False, True])
def test_network_input_is_bilbys_whitened_windowed_data(monkeypatch, incorrect_normalisation):
    """With a Tukey window (window factor < 1) the network sees exactly bilby's whitened data and PSD,
    under bilby's current PSD convention and under BILBY_INCORRECT_PSD_NORMALIZATION alike."""
    monkeypatch.setenv("BILBY_INCORRECT_PSD_NORMALIZATION", "TRUE" if incorrect_normalisation else "FALSE")
    likelihood = likelihood_for(TRIGGER + 2.0 - 4.0, roll_off=0.4)
    reference_asd = np.full(METADATA["num_bins"], 1e-23)
    inputs = network_input_from_likelihood(METADATA, likelihood, reference_asd)
    for ifo, row in zip(likelihood.interferometers, inputs):
        assert ifo.strain_data.window_factor == pytest.approx(0.875, abs=1e-3)
        mask = (ifo.frequency_array >= 20.0) & (ifo.frequency_array <= 100.0)
        whitened = ifo.whitened_frequency_domain_strain[mask]
        scale = np.abs(whitened).max()
        np.testing.assert_allclose(row[0] + 1j * row[1], whitened, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(row[2], reference_asd / ifo.amplitude_spectral_density_array[mask], rtol=1e-6)
        psd_factor = ifo.power_spectral_density_array[mask] / ifo.power_spectral_density.get_power_spectral_density_array(
            ifo.frequency_array)[mask]
        assert psd_factor == pytest.approx(ifo.strain_data.window_factor if incorrect_normalisation else 1.0)


def test_a_posterior_piled_up_against_the_training_bound_is_flagged_naming_the_scope():
    """Weighted draws uniform over the prior are not flagged; a posterior with 30% of its mass within 0.6 of the
    lower training bound 20 (where the prior has 2%) is — unless the analysis prior itself stops above it."""
    from bilby_dingo.proposals.event_data import posterior_at_training_bounds

    rng = np.random.default_rng(1)
    priors = {"chirp_mass": bilby.core.prior.Uniform(20, 50, name="chirp_mass")}
    uniform = {"chirp_mass": rng.uniform(20, 50, 20000)}
    assert posterior_at_training_bounds(METADATA, priors, uniform, np.ones(20000)) is None
    weights = np.where(uniform["chirp_mass"] < 20.6, 21.0, 1.0)  # about 30% of the weight in [20, 20.6]
    message = posterior_at_training_bounds(METADATA, priors, uniform, weights)
    assert message.startswith("The posterior of chirp_mass piles up against the model's training-prior bound 20: ")
    assert "where the prior has 2.0%" in message
    assert "below 20, outside the model's scope [20, 50]" in message and "train_low_mass.ini" in message
    narrowed = {"chirp_mass": bilby.core.prior.Uniform(22, 50, name="chirp_mass")}
    assert posterior_at_training_bounds(METADATA, narrowed, uniform, weights) is None
