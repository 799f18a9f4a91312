"""Every config error is raised before any waveform is generated, and names the fix."""

import numpy as np
import pytest

from bilby_dingo.training.config import KEYS, ConfigError, TrainingConfig, keys_help, read_ini
from tests.conftest import TINY_PRIOR, tiny_config_values


def test_valid_config_and_defaults():
    config = TrainingConfig.from_dict(tiny_config_values())
    assert config.detectors == ["H1", "L1"] and config.duration == 4.0 and config.deltaT == 0.2
    assert config.resolved_inference_parameters() == ["chirp_mass", "mass_ratio", "luminosity_distance", "geocent_time"]
    default = TrainingConfig.from_dict({k: v for k, v in tiny_config_values().items() if k != "inference-parameters"})
    assert default.resolved_inference_parameters()[-1] == "geocent_time"
    assert "theta_jn" in default.resolved_inference_parameters()


def test_ini_files_are_read_as_bilby_pipe_reads_them(tmp_path):
    values = tiny_config_values()
    prior = values.pop("prior-dict")
    lines = [f"{key} = {value}" for key, value in values.items()]
    # A prior-dict over several lines, an inline comment, as bilby_pipe users write them.
    multi_line = "prior-dict = {\n  " + prior.strip("{}").replace(", ", ",\n  ") + "\n}"
    path = tmp_path / "config.ini"
    path.write_text("\n".join(lines).replace("epochs = 3", "epochs = 3  # short") + "\n" + multi_line + "\n")
    config = TrainingConfig.from_file(str(path))
    assert config.epochs == 3
    assert str(config.priors()["chirp_mass"]) == str(TrainingConfig.from_dict(tiny_config_values()).priors()["chirp_mass"])
    path.write_text("\n".join(lines) + f"\nprior-dict = {prior}\nepochs = 5\n")
    with pytest.raises(ConfigError, match="duplicate 'epochs' keys"):
        read_ini(str(path))


def test_training_distance_prior_replaces_only_the_training_datas_distance():
    config = TrainingConfig.from_dict(tiny_config_values(**{
        "training-distance-prior": "Uniform(name='luminosity_distance', minimum=200, maximum=1500)",
        "inference-parameters": "[chirp_mass, mass_ratio, geocent_time]"}))
    analysis, training = config.priors(), config.training_data_priors()
    assert type(analysis["luminosity_distance"]).__name__ == "PowerLaw"
    assert type(training["luminosity_distance"]).__name__ == "Uniform"
    assert all(str(training[key]) == str(analysis[key]) for key in analysis if key != "luminosity_distance")


def test_underscores_and_hyphens_are_the_same_key():
    values = tiny_config_values()
    values["num_waveforms"] = values.pop("num-waveforms")
    assert TrainingConfig.from_dict(values).num_waveforms == 600


def test_ini_file(tmp_path):
    path = tmp_path / "config.ini"
    path.write_text("# comment\n" + "\n".join(f"{k} = {v}" for k, v in tiny_config_values().items()))
    assert read_ini(str(path))["label"] == "micro"
    assert TrainingConfig.from_file(str(path)).label == "micro"


def test_help_lists_every_key():
    text = keys_help()
    assert all(key.name in text for key in KEYS)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"n-live": "5"}, r"Unknown config key\(s\) \['n-live'\]. Valid keys"),
        ({"waveform-approximant": "IMRPhenomFoo"}, "'IMRPhenomFoo' is not known to lalsuite"),
        ({"maximum-frequency": "200"}, r"minimum-frequency < maximum-frequency ≤ sampling-frequency / 2 = 128"),
        ({"minimum-frequency": "120"}, "Need minimum-frequency < maximum-frequency"),
        ({"duration": "4.001"}, "not a whole number of samples"),
        ({"epochs": "0"}, "epochs must be positive"),
        ({"num-waveforms": "abc"}, "num-waveforms = 'abc' is not a valid int"),
        ({"lr-schedule": "linear"}, "lr-schedule must be 'cosine' or 'plateau'"),
        ({"detectors": "[H1, X9]"}, "Detector 'X9' is not known to bilby"),
        ({"prior-dict": TINY_PRIOR.replace("theta_jn: Sine(name='theta_jn'), ", "")},
         r"lacks parameter\(s\) the waveform model lal_binary_black_hole needs: \['theta_jn'\]"),
        ({"prior-dict": TINY_PRIOR.replace("dec: Cosine(name='dec'), ", "")}, r"lacks the extrinsic parameter\(s\) \['dec'\]"),
        ({"inference-parameters": "[chirp_mass, chi_1]"}, r"inference-parameters \['chi_1'\] are not sampled in the prior"),
        ({"prior-dict": TINY_PRIOR[:-1] + ", geocent_time: Uniform(0, 1)}"}, "Remove geocent_time from the prior"),
        ({"frequency-domain-source-model": "no_such_model"}, "is not a function of bilby.gw.source"),
        ({"prior-file": "/nonexistent.prior"}, "Give exactly one of prior-file and prior-dict"),
        ({"gnpe-time-kernel": "0"}, "gnpe-time-kernel must be a positive half-width"),
        ({"gnpe-time-kernel": "0.1"}, r"gnpe-time-kernel ±0.1 s is as wide as the time prior \(deltaT / 2 = 0.1 s\)"),
        ({"gnpe-time-kernel": "0.001", "inference-parameters": "[chirp_mass]"},
         "GNPE .* needs geocent_time among the inference-parameters"),
        ({"gnpe-time-kernel": "0.001"}, r"learn \['ra', 'dec'\] \(add them to inference-parameters\) or fix them"),
        # lalsimulation reads these as IMRPhenomD and TaylorF2 (prefix match, any case): only exact names pass.
        ({"waveform-approximant": "IMRPhenomDD"}, "'IMRPhenomDD' is not a lalsimulation approximant name. Did you "
                                                  "mean 'IMRPhenomD'"),
        ({"waveform-approximant": "TaylorF2x"}, "'TaylorF2x' is not .* Did you mean 'TaylorF2'"),
        ({"waveform-approximant": "imrphenomd"}, "Did you mean 'IMRPhenomD'"),
        ({"simulation-backend": "cupy"}, "simulation-backend must be auto, numpy or torch"),
        ({"cuda-graph": "on"}, "cuda-graph must be auto or off"),
        ({"training-distance-prior": "Uniform(name='luminosity_distance', minimum=200, maximum=1500)"},
         "needs luminosity_distance left out of inference-parameters"),
        ({"training-distance-prior": "Uniform(name='luminosity_distance', minimum=200, maximum=1000)",
          "inference-parameters": "[chirp_mass, mass_ratio, geocent_time]"},
         "covers 200-1000 Mpc but the prior's luminosity_distance covers 200-1500 Mpc: give it the same range"),
    ],
)
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig.from_dict(tiny_config_values(**overrides))


def test_psd_file_that_does_not_cover_the_band(tmp_path):
    path = tmp_path / "short_psd.txt"
    np.savetxt(path, np.column_stack([np.linspace(30, 1000, 100), np.full(100, 1e-46)]))
    with pytest.raises(ConfigError, match="covers 30-1000 Hz, but the analysis band is 20-100 Hz"):
        TrainingConfig.from_dict(tiny_config_values(**{"psd-family": f"[{path}]"}))


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        read_ini("/nonexistent/config.ini")


@pytest.mark.parametrize("name", ["train_tiny", "train_tiny_gnpe", "train_cpu_hour", "train_production",
                                  "train_low_mass"])
def test_shipped_example_configs_are_valid(name):
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", f"{name}.ini")
    config = TrainingConfig.from_file(path)
    assert "geocent_time" in config.resolved_inference_parameters()


def test_low_mass_example_covers_the_lighter_gwtc1_events_and_its_longest_signal_fits_the_segment():
    """examples/train_low_mass.ini: GW151226 and GW151012 (detector-frame chirp mass ~9.7 and ~18.4, outside
    the default model) are inside its prior, and the longest signal (lowest chirp mass, from the minimum
    frequency) fits before the trigger, after bilby_pipe's default 0.4 s Tukey roll-off."""
    import os

    import bilby
    from bilby.gw.conversion import chirp_mass_and_mass_ratio_to_component_masses

    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_low_mass.ini")
    config = TrainingConfig.from_file(path)
    priors = config.priors()
    assert priors["chirp_mass"].minimum < 9.7 and 18.4 < priors["chirp_mass"].maximum
    before_trigger = config.duration - config.post_trigger_duration
    for mass_ratio in (priors["mass_ratio"].minimum, 1.0):
        masses = chirp_mass_and_mass_ratio_to_component_masses(priors["chirp_mass"].minimum, mass_ratio)
        in_band = bilby.gw.utils.calculate_time_to_merger(config.minimum_frequency, *masses)
        assert in_band + 0.4 < before_trigger, (mass_ratio, in_band, before_trigger)


def test_default_model_config_is_valid_and_fits_the_size_limit():
    from bilby_dingo.models import DEFAULT_MODEL_CONFIG
    from bilby_dingo.network.posterior_model import PosteriorModel

    config = TrainingConfig.from_file(DEFAULT_MODEL_CONFIG)
    assert config.gnpe_time_kernel == 0.001 and config.detectors == ["H1", "L1"]
    model = PosteriorModel(len(config.resolved_inference_parameters()), 2,
                           len(config.waveform_settings().frequencies()), config.network_settings(), gnpe_init=True)
    assert model.num_weights() * 4 < 25e6  # float32 weights: the shipped file stays under 25 MB


def test_default_model_path_or_a_clear_error():
    import os

    import bilby_dingo
    from bilby_dingo.models import DEFAULT_MODEL_FILE

    if os.path.isfile(DEFAULT_MODEL_FILE):
        assert bilby_dingo.default_model() == DEFAULT_MODEL_FILE
    else:
        with pytest.raises(FileNotFoundError, match="ships no trained default model.*bilby_dingo_train"):
            bilby_dingo.default_model()


def test_the_shipped_distance_lookup_table_matches_the_default_prior(tmp_path):
    """bilby loads the shipped table for the default distance prior instead of rebuilding it (minutes)."""
    import os

    import bilby

    from bilby_dingo.models import DEFAULT_MODEL_CONFIG, default_distance_lookup_table

    config = TrainingConfig.from_file(DEFAULT_MODEL_CONFIG)
    priors = bilby.gw.prior.BBHPriorDict(dict(config.validate()))
    path = default_distance_lookup_table(str(tmp_path / "lookup.npz"))
    before = os.path.getmtime(path)
    ifos = bilby.gw.detector.InterferometerList(["H1"])
    ifos.set_strain_data_from_zero_noise(sampling_frequency=512, duration=4, start_time=0)
    generator = bilby.gw.WaveformGenerator(
        duration=4, sampling_frequency=512, frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole)
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(
        ifos, generator, priors=priors, distance_marginalization=True, phase_marginalization=True,
        distance_marginalization_lookup_table=path)
    assert os.path.getmtime(path) == before  # loaded, not rebuilt
    assert likelihood._dist_margd_loglikelihood_array.shape == (400, 800)
