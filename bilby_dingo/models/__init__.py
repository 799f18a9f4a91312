"""The default model shipped with bilby_dingo: its training config, its trained file, and helpers.

``default_bbh.ini`` is the committed config (stellar-mass BBH, H1+L1, O1-O4 noise; the scope is in its
header); ``default_bbh_model.pt`` the model trained from it (v2: v1, trained from the config alone on 2 CPU
cores, continued on a GPU with more and louder waveforms; its file records every stage, and the ini's
header says how to repeat them); ``default_bbh_distance_lookup.npz`` bilby's distance-marginalisation
table for its distance prior.
"""

from __future__ import annotations

import os
import shutil

import bilby

from ..prior_strings import PriorStringError, parse_prior_strings

MODELS_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL_CONFIG = os.path.join(MODELS_DIRECTORY, "default_bbh.ini")
DEFAULT_MODEL_FILE = os.path.join(MODELS_DIRECTORY, "default_bbh_model.pt")
# bilby's distance-marginalisation lookup table for the default prior (distance and phase marginalised),
# built by bilby itself: shipping it saves every analysis the ~3 minutes bilby needs to build it.
DEFAULT_DISTANCE_LOOKUP_TABLE = os.path.join(MODELS_DIRECTORY, "default_bbh_distance_lookup.npz")


def default_model() -> str:
    """Path of the default model file shipped in the package.

    Raises
    ------
    FileNotFoundError
        When this installation carries no trained default model; the message says how to train one.
    """
    if not os.path.isfile(DEFAULT_MODEL_FILE):
        raise FileNotFoundError(
            f"This bilby_dingo installation ships no trained default model ({DEFAULT_MODEL_FILE} is missing). "
            f"Train it with `bilby_dingo_train {DEFAULT_MODEL_CONFIG} --outdir outdir_default_bbh` and pass "
            f"model='outdir_default_bbh/default_bbh_model.pt', or train a model for your analysis.")
    return DEFAULT_MODEL_FILE


def training_priors(metadata: dict, prior_file: str | None = None) -> bilby.gw.prior.BBHPriorDict:
    """The training prior of a model (from its metadata, or ``prior_file``) as a bilby BBHPriorDict.

    The model's stored prior strings are parsed by :func:`bilby_dingo.prior_strings.parse_prior_string`,
    which never evaluates code: a model file is data. ``prior_file`` is read by bilby, as any prior file.
    """
    if prior_file:
        return bilby.gw.prior.BBHPriorDict(filename=prior_file)
    try:
        priors = parse_prior_strings(metadata["priors"])
    except PriorStringError as error:
        raise PriorStringError(
            f"The model's stored training prior cannot be read safely. {error} bilby_dingo_train stores only such "
            f"priors, so this model file was altered or made elsewhere: do not use it, or give its prior as a "
            f"bilby prior file you trust (bilby_dingo_pp --prior-file).") from None
    return bilby.gw.prior.BBHPriorDict(dictionary=priors)


def analysis_priors(trigger_time: float, model: str | None = None) -> bilby.gw.prior.BBHPriorDict:
    """Priors for analysing an event at ``trigger_time`` with ``model`` (default: the default model).

    The model's training prior, with geocent_time uniform over the trained window (trigger ± deltaT/2):
    the widest prior the network covers. Narrow any of them for your analysis; widening one is refused
    by the sampler, because the network has no draws there.
    """
    from ..network.model_file import read_model_file

    metadata = read_model_file(default_model() if model is None else model)["metadata"]
    priors = training_priors(metadata)
    half_width = metadata["deltaT"] / 2
    priors["geocent_time"] = bilby.core.prior.Uniform(
        trigger_time - half_width, trigger_time + half_width, name="geocent_time", latex_label="$t_c$", unit="$s$")
    return priors


def default_distance_lookup_table(path: str) -> str:
    """Copy bilby's distance-marginalisation table for the default model's prior to ``path``; return ``path``.

    Pass ``path`` as ``distance_marginalization_lookup_table`` to bilby's GW likelihood with
    ``distance_marginalization=True, phase_marginalization=True``. bilby checks that the table matches
    the distance prior and rebuilds it (into ``path``) if not: a copy, so the shipped file stays intact.
    A file already at ``path`` is left as it is.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if os.path.isfile(DEFAULT_DISTANCE_LOOKUP_TABLE) and not os.path.isfile(path):
        shutil.copyfile(DEFAULT_DISTANCE_LOOKUP_TABLE, path)
    return path
