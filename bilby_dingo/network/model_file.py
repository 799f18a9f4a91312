"""One self-describing model file: the weights and everything needed to rebuild and check the model.

Written with ``torch.save`` as a dict of tensors and plain JSON-like values, read with
``torch.load(..., weights_only=True)``: loading never executes code from the file.
"""

from __future__ import annotations

import os

import torch

from ..errors import ModelFileError
from ..utils import atomic_path
from .posterior_model import PosteriorModel

MODEL_FORMAT = "bilby_dingo-model"
MODEL_FORMAT_VERSION = 1

# Metadata every model file carries (bilby_dingo_info --json prints them); reading checks them all.
REQUIRED_METADATA = [
    "detectors", "duration", "sampling_frequency", "minimum_frequency", "maximum_frequency", "waveform_approximant",
    "reference_frequency", "inference_parameters", "priors", "gnpe", "reference_time", "post_trigger_duration",
    "deltaT", "psd_family", "network", "num_bins",
]


def atomic_torch_save(payload: dict, path: str | os.PathLike) -> None:
    """torch.save through a temporary file: readers never see half a file."""
    with atomic_path(path, suffix=".pt") as temporary:
        torch.save(payload, temporary)


def save_model(path: str | os.PathLike, model: PosteriorModel, metadata: dict) -> None:
    """Write ``model`` and its ``metadata`` (JSON-like values only) to ``path``."""
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"Model metadata lacks {missing}.")
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    atomic_torch_save(dict(format=MODEL_FORMAT, format_version=MODEL_FORMAT_VERSION, metadata=metadata,
                           state_dict=state), path)


def read_model_file(path: str | os.PathLike) -> dict:
    """The raw payload of a model file, checked; never unpickles objects."""
    if not os.path.isfile(path):
        raise ModelFileError(f"Model file {path} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelFileError(
            f"{path} is not a readable bilby_dingo model (truncated, corrupted or another kind of file): {error}. "
            f"Train one with bilby_dingo_train.") from error
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not a bilby_dingo model file (no '{MODEL_FORMAT}' header).")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {payload.get('format_version')}; this bilby_dingo reads "
            f"version {MODEL_FORMAT_VERSION}. Retrain the model or install the matching bilby_dingo.")
    metadata = payload.get("metadata")
    missing = [key for key in REQUIRED_METADATA if key not in metadata] if isinstance(metadata, dict) else ["metadata"]
    if "state_dict" not in payload:
        missing.append("state_dict")
    if missing:
        raise ModelFileError(
            f"{path} lacks {missing}, which every bilby_dingo model file carries: it was damaged, edited or written "
            f"by other software. Retrain it with bilby_dingo_train.")
    return payload


def build_model(metadata: dict) -> PosteriorModel:
    """An untrained :class:`PosteriorModel` with the architecture the metadata describes."""
    return PosteriorModel(len(metadata["inference_parameters"]), len(metadata["detectors"]), metadata["num_bins"],
                          metadata["network"], gnpe_init=bool(metadata.get("gnpe")))


def load_model(path: str | os.PathLike, device: str = "cpu") -> tuple[PosteriorModel, dict]:
    """(model in eval mode on ``device``, metadata) from a model file."""
    payload = read_model_file(path)
    metadata = payload["metadata"]
    model = build_model(metadata)
    if metadata.get("gnpe") and not any(key.startswith("gnpe_init.") for key in payload["state_dict"]):
        raise ModelFileError(
            f"{path} is a GNPE model without its initialisation network q_init(t_I | d). Retrain it with "
            f"bilby_dingo_train (the initialisation network is trained in the same run and saved in the same file).")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise ModelFileError(f"The weights in {path} do not fit the architecture it describes: {error}") from error
    return model.to(device).eval(), metadata
