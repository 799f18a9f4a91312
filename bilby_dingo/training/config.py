"""The training config: a bilby_pipe-style ini file of ``key = value`` lines, typed and validated.

Keys use bilby_pipe's names where they exist. Every key is documented in :data:`KEYS`, which
``bilby_dingo_train --help`` prints. Validation happens before any waveform is generated.
"""

import inspect
import os
import re
from dataclasses import asdict, dataclass

import bilby
import numpy as np

from ..errors import ConfigError
from ..simulation.noise import PSDError, PSDFamily
from ..simulation.simulator import EXTRINSIC_PARAMETERS
from ..simulation.waveforms import REFERENCE_DISTANCE, WaveformError, WaveformSettings


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # str, float, int, bool, list, floats, path
    default: object
    help: str


KEYS = [
    Key("label", "str", "dingo", "Name of the model; files are OUTDIR/LABEL_model.pt etc."),
    Key("outdir", "str", "outdir_train", "Output directory (the --outdir option overrides it)."),
    Key("detectors", "list", ["H1", "L1"], "Detectors, bilby names, e.g. [H1, L1]."),
    Key("duration", "float", 4.0, "Segment duration in s."),
    Key("sampling-frequency", "float", 2048.0, "Sampling frequency in Hz."),
    Key("minimum-frequency", "float", 20.0, "Lower end of the analysis band in Hz."),
    Key("maximum-frequency", "float", None, "Upper end of the analysis band in Hz (default: sampling-frequency / 2)."),
    Key("reference-frequency", "float", 20.0, "Waveform reference frequency in Hz."),
    Key("waveform-approximant", "str", "IMRPhenomPv2", "lalsuite approximant name."),
    Key("frequency-domain-source-model", "str", "lal_binary_black_hole", "Function of bilby.gw.source."),
    Key("prior-file", "path", None, "bilby prior file (give this or prior-dict)."),
    Key("prior-dict", "str", None, "Prior as a bilby_pipe-style dict string, e.g. {chirp_mass: Uniform(20, 40), ...}."),
    Key("training-distance-prior", "str", None,
        "Optional: the distance prior of the training data, a bilby prior string over the same range as the "
        "prior's luminosity_distance, e.g. Uniform(name='luminosity_distance', minimum=100, maximum=3000). A "
        "prior with more weight at small distances shows the network more loud signals. Only when distance is "
        "not learned: the model then serves the prior's distance prior, which importance sampling applies exactly."),
    Key("deltaT", "float", 0.2, "Width in s of the uniform geocent_time prior around the trigger (bilby_pipe's deltaT)."),
    Key("post-trigger-duration", "float", 2.0, "Seconds of data after the trigger time (bilby_pipe's convention)."),
    Key("reference-time", "float", 1126259462.4,
        "GPS time the training data are projected at; events at other times are handled exactly by "
        "shifting the right ascension by the sidereal-time difference."),
    Key("inference-parameters", "list", None,
        "Parameters the flow learns (default: every non-fixed prior parameter and geocent_time). "
        "Parameters bilby's likelihood marginalises need not be learned."),
    Key("gnpe-time-kernel", "float", None,
        "GNPE: half-width in s of the uniform kernel of the per-detector time proxies (DINGO: 0.001). The "
        "network sees each detector's data shifted by its proxy and learns geocent_time relative to the first "
        "detector's proxy; an initialisation network q_init(t_I | d) is trained with it, in the same file. "
        "Needs geocent_time among the inference parameters and ra, dec learned or fixed. Default: no GNPE."),
    Key("psd-family", "list", ["aLIGO_early", "aLIGO_mid", "aLIGO_late", "aLIGO_O4_high"],
        "PSDs the model serves: bilby curve names (e.g. aLIGO_O4_high) or two-column files "
        "(a file whose name contains 'asd' holds an ASD)."),
    Key("psd-perturbation-sigma", "float", 0.1, "Std of the smooth random log-PSD perturbation."),
    Key("psd-perturbation-nodes", "int", 8, "Nodes (in log f) of the piecewise-linear log-PSD perturbation."),
    Key("psd-scale-range", "floats", [0.5, 2.0], "Log-uniform range of an overall PSD scale factor."),
    Key("num-waveforms", "int", 10000, "Number of training waveforms (intrinsic parameter draws)."),
    Key("validation-fraction", "float", 0.05, "Fraction of the waveforms held out for validation."),
    Key("svd-size", "int", 64, "Size of the SVD basis that initialises the embedding's first layer."),
    Key("svd-num-waveforms", "int", 2000, "Whitened waveforms used to build the SVD basis."),
    Key("embedding-hidden", "int", 256, "Width of the embedding's residual blocks."),
    Key("embedding-blocks", "int", 4, "Number of residual blocks in the embedding."),
    Key("context-dim", "int", 64, "Number of features the embedding hands to the flow."),
    Key("flow-transforms", "int", 6, "Coupling transforms of the neural spline flow."),
    Key("flow-hidden", "int", 128, "Width of the flow's coupling networks."),
    Key("flow-blocks-per-transform", "int", 2, "Residual blocks per coupling network."),
    Key("flow-bins", "int", 8, "Rational-quadratic spline bins."),
    Key("initial-model", "path", None,
        "Start from the weights of this model file instead of a fresh network (training continued with new "
        "waveforms, a new distance prior or schedule). Its standardisation and SVD basis are kept; it must "
        "have this config's detectors, band, approximant, time settings, inference parameters, GNPE kernel "
        "and network settings."),
    Key("epochs", "int", 20, "Training epochs."),
    Key("batch-size", "int", 256, "Training batch size."),
    Key("learning-rate", "float", 1e-3, "Adam learning rate."),
    Key("lr-schedule", "str", "cosine", "cosine (annealed over the epochs) or plateau (halve when validation stalls)."),
    Key("device", "str", "auto", "auto (CUDA when present), cpu or cuda."),
    Key("simulation-backend", "str", "auto",
        "Where the training data are simulated: numpy (on the CPU, in a thread beside the training), torch "
        "(the per-bin work on the training device, with the polarisations held there), or auto: torch when "
        "the device is a GPU, numpy otherwise."),
    Key("cuda-graph", "str", "auto",
        "auto: on a CUDA device, each training step's forward and backward pass is captured once as a CUDA "
        "graph and replayed for every full batch (the same computation, launched at once rather than as "
        "~5,000 small kernels from Python; an epoch at batch 2048 on an H100 ran 4.2x faster); off: always "
        "launch eagerly. The CPU always trains eagerly."),
    Key("seed", "int", 0, "Seed of the waveform draws, noise and network initialisation."),
    Key("num-processes", "int", 1, "Processes generating waveforms."),
]
KEYS_BY_NAME = {key.name: key for key in KEYS}


def _canonical(name):
    name = name.strip().replace("_", "-")
    return "deltaT" if name.lower() == "deltat" else name


def keys_help():
    """Every config key with its default and meaning, for --help."""
    lines = ["config keys (CONFIG.ini holds 'key = value' lines; '-' and '_' are interchangeable):"]
    for key in KEYS:
        lines.append(f"  {key.name} (default: {key.default})\n      {key.help}")
    return "\n".join(lines)


def read_ini(path):
    """The entries of a bilby_pipe-style ini file as a dict (strings, or lists for ``[a, b]`` values).

    Read by bilby_pipe's own config-file parser, so that an ini behaves as it would for bilby_pipe: inline
    ``# comments`` are stripped, a ``{...}`` dict may span lines, and a key given twice is an error.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"Config file {path} does not exist.")
    from bilby_pipe.bilbyargparser import BilbyConfigFileParser

    try:
        with open(path) as stream:
            items = BilbyConfigFileParser().parse(stream)[0]
    except Exception as error:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # bilby_pipe colours its messages
        raise ConfigError(f"{path} cannot be read as a bilby_pipe ini file: {message}. Write one 'key = value' "
                          f"per line, each key once.") from error
    return {_canonical(name): value for name, value in items.items()}


def _parse(key, value):
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
        return None
    try:
        if key.kind in ("str", "path"):
            return str(value).strip()
        if key.kind == "float":
            return float(value)
        if key.kind == "int":
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if key.kind in ("list", "floats"):
            items = value if isinstance(value, (list, tuple)) else str(value).strip().strip("[]").split(",")
            items = [str(item).strip().strip("'\"") for item in items if str(item).strip()]
            return [float(item) for item in items] if key.kind == "floats" else items
    except (TypeError, ValueError):  # TypeError: a list where a number belongs
        pass
    raise ConfigError(f"{key.name} = {value!r} is not a valid {key.kind}: {key.help}")


@dataclass(frozen=True)
class TrainingConfig:
    """A validated training config (attribute names are the keys with '_' for '-')."""

    label: str
    outdir: str
    detectors: list
    duration: float
    sampling_frequency: float
    minimum_frequency: float
    maximum_frequency: float
    reference_frequency: float
    waveform_approximant: str
    frequency_domain_source_model: str
    prior_file: str
    prior_dict: str
    training_distance_prior: str
    deltaT: float
    post_trigger_duration: float
    reference_time: float
    inference_parameters: list
    gnpe_time_kernel: float
    psd_family: list
    psd_perturbation_sigma: float
    psd_perturbation_nodes: int
    psd_scale_range: list
    num_waveforms: int
    validation_fraction: float
    svd_size: int
    svd_num_waveforms: int
    embedding_hidden: int
    embedding_blocks: int
    context_dim: int
    flow_transforms: int
    flow_hidden: int
    flow_blocks_per_transform: int
    flow_bins: int
    initial_model: str
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    device: str
    simulation_backend: str
    cuda_graph: str
    seed: int
    num_processes: int

    @classmethod
    def from_dict(cls, values):
        """Parse, fill defaults and validate; raises :class:`ConfigError`."""
        values = {_canonical(name): value for name, value in values.items()}
        unknown = sorted(name for name in values if name not in KEYS_BY_NAME)
        if unknown:
            raise ConfigError(f"Unknown config key(s) {unknown}. Valid keys: {[key.name for key in KEYS]}.")
        parsed = {}
        for key in KEYS:
            value = _parse(key, values[key.name]) if key.name in values else key.default
            parsed[key.name.replace("-", "_")] = value
        if parsed["maximum_frequency"] is None:
            parsed["maximum_frequency"] = parsed["sampling_frequency"] / 2
        config = cls(**parsed)
        config.validate()
        return config

    @classmethod
    def from_file(cls, path):
        return cls.from_dict(read_ini(path))

    def to_dict(self):
        return asdict(self)

    # --- derived objects -----------------------------------------------------------------------

    def waveform_settings(self):
        return WaveformSettings.from_mapping(self.to_dict())

    def priors(self):
        """The training prior as a bilby BBHPriorDict."""
        if self.prior_file:
            if not os.path.isfile(self.prior_file):
                raise ConfigError(f"prior-file {self.prior_file} does not exist.")
            return bilby.gw.prior.BBHPriorDict(filename=self.prior_file)
        try:
            # Imported here, not with the module: a config built with from_dict and a prior-file needs no
            # bilby_pipe (ini files do: read_ini uses its parser).
            from bilby_pipe.utils import convert_prior_string_input

            return bilby.gw.prior.BBHPriorDict(dictionary=convert_prior_string_input(self.prior_dict))
        except Exception as error:
            raise ConfigError(f"prior-dict cannot be read by bilby: {error}") from error

    def training_data_priors(self, priors=None):
        """The priors the training data are drawn from: the prior, with training-distance-prior if given."""
        priors = bilby.gw.prior.BBHPriorDict(dictionary=dict(priors or self.priors()))
        if self.training_distance_prior:
            try:
                distance = bilby.core.prior.PriorDict(
                    dictionary=dict(luminosity_distance=self.training_distance_prior))["luminosity_distance"]
            except Exception as error:
                raise ConfigError(f"training-distance-prior cannot be read by bilby: {error}") from error
            priors["luminosity_distance"] = distance
        return priors

    def sampled_parameters(self, priors=None):
        priors = priors or self.priors()
        return [key for key in priors if isinstance(priors[key], bilby.core.prior.Prior) and not priors[key].is_fixed]

    def resolved_inference_parameters(self, priors=None):
        if self.inference_parameters:
            return list(self.inference_parameters)
        return self.sampled_parameters(priors) + ["geocent_time"]

    def interferometers(self):
        return bilby.gw.detector.InterferometerList(self.detectors)

    def network_settings(self):
        names = ["svd_size", "embedding_hidden", "embedding_blocks", "context_dim", "flow_transforms", "flow_hidden",
                 "flow_blocks_per_transform", "flow_bins"]
        return {name: getattr(self, name) for name in names}

    # --- validation ----------------------------------------------------------------------------

    def validate(self):
        """Check everything that can be checked without generating waveforms; return the priors."""
        try:
            self._validate_numbers()
            self._validate_waveform()
            priors = self._validate_priors()
            self._validate_detectors()
            PSDFamily(self.psd_family, self.waveform_settings().frequencies(), self.psd_perturbation_sigma,
                      self.psd_perturbation_nodes, self.psd_scale_range)
        except (WaveformError, PSDError) as error:
            raise ConfigError(str(error)) from error
        return priors

    def _validate_numbers(self):
        positive = ["duration", "sampling_frequency", "minimum_frequency", "reference_frequency", "deltaT",
                    "num_waveforms", "svd_size", "svd_num_waveforms", "embedding_hidden", "context_dim",
                    "flow_transforms", "flow_hidden", "flow_blocks_per_transform", "flow_bins", "epochs",
                    "batch_size", "learning_rate", "num_processes"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        samples = self.duration * self.sampling_frequency
        if abs(samples - round(samples)) > 1e-9:
            raise ConfigError(
                f"duration × sampling-frequency = {samples:g} is not a whole number of samples; choose "
                f"a duration and sampling frequency whose product is an integer.")
        nyquist = self.sampling_frequency / 2
        if not self.minimum_frequency < self.maximum_frequency <= nyquist:
            raise ConfigError(
                f"Need minimum-frequency < maximum-frequency ≤ sampling-frequency / 2 = {nyquist:g} Hz; got "
                f"{self.minimum_frequency:g} and {self.maximum_frequency:g} Hz. Lower maximum-frequency or raise "
                f"sampling-frequency.")
        if self.minimum_frequency < 1 / self.duration:
            raise ConfigError(f"minimum-frequency {self.minimum_frequency:g} Hz is below the resolution 1/duration.")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation-fraction must lie in (0, 1), got {self.validation_fraction}.")
        if self.num_waveforms * self.validation_fraction < 1 or self.num_waveforms * (1 - self.validation_fraction) < 1:
            raise ConfigError("num-waveforms is too small to hold out a validation set; raise it.")
        if not 0 < self.post_trigger_duration < self.duration:
            raise ConfigError("post-trigger-duration must lie inside (0, duration).")
        if self.lr_schedule not in ("cosine", "plateau"):
            raise ConfigError(f"lr-schedule must be 'cosine' or 'plateau', got '{self.lr_schedule}'.")
        if self.simulation_backend not in ("auto", "numpy", "torch"):
            raise ConfigError(f"simulation-backend must be auto, numpy or torch, got '{self.simulation_backend}'.")
        if self.cuda_graph not in ("auto", "off"):
            raise ConfigError(f"cuda-graph must be auto or off, got '{self.cuda_graph}'.")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda, got '{self.device}'.")
        if len(self.psd_scale_range) != 2:
            raise ConfigError("psd-scale-range needs two numbers [low, high].")

    def _validate_waveform(self):
        import lalsimulation

        try:
            known = lalsimulation.GetStringFromApproximant(
                lalsimulation.GetApproximantFromString(self.waveform_approximant))
        except RuntimeError:
            known = None
        # lalsimulation matches prefixes and ignores case ('IMRPhenomDD' reads as IMRPhenomD): the model would be
        # trained under a name that analyses later do not match. Only the exact name is accepted.
        if known is None:
            raise ConfigError(
                f"waveform-approximant '{self.waveform_approximant}' is not known to lalsuite; use a lalsimulation "
                f"name such as IMRPhenomD, IMRPhenomPv2 or IMRPhenomXPHM.")
        if known != self.waveform_approximant:
            raise ConfigError(
                f"waveform-approximant '{self.waveform_approximant}' is not a lalsimulation approximant name. Did you "
                f"mean '{known}'? Give the exact name (lalsimulation also accepts prefixes, but analyses match the "
                f"model's approximant by its exact name).")
        self.waveform_settings().source_model()

    def _validate_detectors(self):
        for name in self.detectors:
            try:
                bilby.gw.detector.get_empty_interferometer(name)
            except ValueError:
                raise ConfigError(f"Detector '{name}' is not known to bilby (e.g. H1, L1, V1, K1).") from None

    def _validate_priors(self):
        if bool(self.prior_file) == bool(self.prior_dict):
            raise ConfigError("Give exactly one of prior-file and prior-dict.")
        priors = self.priors()
        if "geocent_time" in priors:
            raise ConfigError(
                "The prior sets geocent_time; the training prior on the time is set by deltaT (uniform "
                "± deltaT / 2 around the trigger). Remove geocent_time from the prior.")
        missing = [key for key in EXTRINSIC_PARAMETERS if key not in priors]
        if missing:
            raise ConfigError(f"The prior lacks the extrinsic parameter(s) {missing}; add them to the prior.")
        sample = priors.sample()
        sample["luminosity_distance"] = REFERENCE_DISTANCE
        converted, _ = bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters(sample)
        signature = inspect.signature(self.waveform_settings().source_model()).parameters
        needed = [name for name, parameter in signature.items()
                  if name != "frequency_array" and parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                  and parameter.default is inspect.Parameter.empty]
        lacking = [name for name in needed if name not in converted]
        if lacking:
            raise ConfigError(
                f"The prior lacks parameter(s) the waveform model {self.frequency_domain_source_model} needs: "
                f"{lacking}. Add them (fixed values are fine, e.g. 'a_1 = 0'), or use aligned spins chi_1, chi_2.")
        allowed = self.sampled_parameters(priors) + ["geocent_time"]
        learned = self.resolved_inference_parameters(priors)
        unknown = [key for key in learned if key not in allowed]
        if unknown:
            raise ConfigError(
                f"inference-parameters {unknown} are not sampled in the prior; choose from {allowed}.")
        if self.gnpe_time_kernel is not None:
            self._validate_gnpe(priors, learned)
        if self.training_distance_prior:
            self._validate_training_distance_prior(priors, learned)
        return priors

    def _validate_training_distance_prior(self, priors, learned):
        if "luminosity_distance" in learned:
            raise ConfigError(
                "training-distance-prior needs luminosity_distance left out of inference-parameters (analysed with "
                "bilby's distance marginalisation): a learned distance would follow the training prior, not yours.")
        analysis, training = priors["luminosity_distance"], self.training_data_priors(priors)["luminosity_distance"]
        if not (np.isclose(training.minimum, analysis.minimum) and np.isclose(training.maximum, analysis.maximum)):
            raise ConfigError(
                f"training-distance-prior covers {training.minimum:g}-{training.maximum:g} Mpc but the prior's "
                f"luminosity_distance covers {analysis.minimum:g}-{analysis.maximum:g} Mpc: give it the same range, "
                f"so that the network covers every distance the analysis prior allows.")

    def _validate_gnpe(self, priors, learned):
        width = self.gnpe_time_kernel
        if not width > 0:
            raise ConfigError(f"gnpe-time-kernel must be a positive half-width in s (DINGO: 0.001), got {width}.")
        if width >= self.deltaT / 2:
            raise ConfigError(
                f"gnpe-time-kernel ±{width:g} s is as wide as the time prior (deltaT / 2 = {self.deltaT / 2:g} s): "
                f"the proxies would carry no information. Use a kernel of about a millisecond (0.001).")
        if "geocent_time" not in learned:
            raise ConfigError("GNPE (gnpe-time-kernel) needs geocent_time among the inference-parameters.")
        unusable = [key for key in ("ra", "dec") if key not in learned and not priors[key].is_fixed]
        if unusable:
            raise ConfigError(
                f"GNPE needs the sky position to compute detector times: learn {unusable} (add them to "
                f"inference-parameters) or fix them in the prior.")
