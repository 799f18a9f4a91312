"""The stored training waveforms: intrinsic parameter draws and their polarisations (complex64).

Generated once per training run (in parallel), saved as ``.npz`` next to the checkpoint so that a
resumed training reuses them, and read back with ``allow_pickle=False``.
"""

import json
import logging
import os
import time

import numpy as np
from tqdm.auto import tqdm

from ..simulation.waveforms import generate_polarisations
from ..utils import atomic_path, bilby_generator

logger = logging.getLogger(f"bilby.{__name__}")


def waveform_fingerprint(config):
    """What determines the waveforms; a stored set with another fingerprint is regenerated."""
    keys = ["duration", "sampling_frequency", "minimum_frequency", "maximum_frequency", "reference_frequency",
            "waveform_approximant", "frequency_domain_source_model", "prior_file", "prior_dict", "num_waveforms",
            "seed"]
    return json.dumps({key: getattr(config, key) for key in keys}, sort_keys=True)


def generate_waveform_dataset(config, priors):
    """Draw intrinsic parameters from the prior (seeded) and generate their polarisations.

    Returns (parameters: dict of arrays, plus, cross, seconds spent generating).
    """
    keys = [key for key in priors if key not in ("geocent_time",)]
    with bilby_generator(np.random.default_rng([config.seed, 1])):
        drawn = priors.sample_subset_constrained(keys=keys, size=config.num_waveforms)
    parameters = {key: np.asarray(value, dtype=float) * np.ones(config.num_waveforms) for key, value in drawn.items()}
    start = time.perf_counter()
    with tqdm(total=config.num_waveforms, desc="waveforms", unit="wf", disable=None) as bar:
        plus, cross = generate_polarisations(config.waveform_settings(), parameters,
                                             num_processes=config.num_processes, progress=bar.update)
    return parameters, plus, cross, time.perf_counter() - start


def save_waveform_dataset(path, fingerprint, parameters, plus, cross):
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez(temporary, fingerprint=np.array(fingerprint), keys=np.array(list(parameters)),
                 values=np.stack([parameters[key] for key in parameters]), plus=plus, cross=cross)


def load_waveform_dataset(path, fingerprint):
    """(parameters, plus, cross) if ``path`` holds waveforms with this fingerprint, else None."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                logger.info(f"{path} holds waveforms of another config: regenerating")
                return None
            parameters = {str(key): data["values"][i] for i, key in enumerate(data["keys"])}
            return parameters, data["plus"], data["cross"]
    except Exception as error:  # a truncated file is regenerated, not trusted
        logger.warning(f"Cannot read {path} ({error}): regenerating the waveforms")
        return None
