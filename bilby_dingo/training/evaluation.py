"""Held-out log-densities of trained networks on one fixed simulated set, by band of network SNR.

For data d and true parameters θ drawn from the analysis prior, the mean of log q(θ | d) over a set is,
up to the posterior's own entropy (the same for every network on the same set), minus the mean
KL(p(θ | d) ‖ q(θ | d)). The difference of two networks' means on the *same* draws therefore measures
which network is closer to the posterior, per SNR band, with the small error of a paired comparison.
That makes it a cheap screen for training levers: a few minutes of forward passes instead of importance
sampling hundreds of injections (benchmarks/compare_networks.py, the protocol that decides what ships).
Networks trained on different training-distance priors have validation losses on different data; here
every network sees the same data, drawn from the analysis prior.
"""

import numpy as np
import torch

from ..network.model_file import ModelFileError, load_model
from .trainer import Trainer

# The model-file entries that must agree with the evaluation set's config for a network's log-density of
# the simulated θ to mean the same thing: those an initial model must share, less the architecture.
DATA_KEYS = tuple(key for key in Trainer.INITIAL_MODEL_KEYS if key != "network")


def optimal_snr_of_inputs(noise_free_inputs):
    """sqrt(Σ_I Σ_k |w_Ik|²) of noise-free network inputs: in bilby's whitened units (unit-variance noise in
    each part, simulation.noise.whitening_factor) that is the network optimal SNR, sqrt(4/T Σ |h|² / S). (For a
    bilby likelihood's injection, validation.pp.network_optimal_snr gives the same quantity from bilby.)"""
    signal = noise_free_inputs[:, :, :2, :].astype(np.float64)
    return np.sqrt(np.sum(signal ** 2, axis=(1, 2, 3)))


def evaluation_batches(simulator, indices, seed, batch_size=1024):
    """Fixed batches for ``indices`` (noise, extrinsic parameters and GNPE proxies from ``seed``), each with
    its samples' network optimal SNR.

    The SNR comes from a noise-free twin of each batch drawn from an identically seeded generator: the
    extrinsic parameters and PSDs are drawn before the noise, so the twin has the same signals.
    """
    for start in range(0, len(indices), batch_size):
        chunk = np.asarray(indices[start:start + batch_size])
        twin = simulator.simulate(chunk, np.random.default_rng([seed, start]), add_noise=False)
        batch = simulator.simulate(chunk, np.random.default_rng([seed, start]))
        yield batch, optimal_snr_of_inputs(twin["inputs"])


def check_model_fits(metadata, reference, path):
    """Refuse a model whose data settings differ from the evaluation set's (``reference``: its metadata)."""
    different = [key for key in DATA_KEYS if metadata.get(key) != reference.get(key)]
    if different:
        raise ModelFileError(
            f"{path} was trained for other data than this evaluation set: it differs in {different}. "
            f"Evaluate it with the config it was trained with (--config).")


@torch.no_grad()
def held_out_log_densities(models, batches):
    """log q(θ | d[, t̂]) per sample for each model, and the samples' SNRs.

    Parameters
    ----------
    models: dict of name -> PosteriorModel
    batches: iterable of (batch, snr) from :func:`evaluation_batches`

    Returns
    -------
    dict with ``snr`` (n,) and, per model name, ``log_q`` (n,): the learned parameters' log-density (for GNPE
    given the proxies) and, for GNPE, ``log_q_init`` (n,): the initialisation network's log-density of the
    detector times.
    """
    for model in models.values():
        model.eval()
    columns = {name: dict(log_q=[], log_q_init=[]) for name in models}
    snrs = []
    for batch, snr in batches:
        tensors = {key: torch.from_numpy(value) for key, value in batch.items()}
        snrs.append(snr)
        for name, model in models.items():
            columns[name]["log_q"].append(
                model.log_prob(tensors["theta"], tensors["inputs"], tensors.get("proxies")).numpy())
            if model.gnpe_init is not None:
                columns[name]["log_q_init"].append(
                    model.gnpe_init.log_prob(tensors["init_theta"], tensors["init_inputs"]).numpy())
    out = dict(snr=np.concatenate(snrs))
    for name, values in columns.items():
        out[name] = {key: np.concatenate(parts) for key, parts in values.items() if parts}
    return out


def paired_band_summary(log_densities, names, bands, baseline=None):
    """Per SNR band: each model's mean log q, and its paired difference from ``baseline`` (the first name by
    default) with the standard error of that mean difference.

    A positive difference is a network closer to the posterior than the baseline's (in mean KL) on that band.
    """
    baseline = baseline or names[0]
    snr = log_densities["snr"]
    summary = []
    for low, high in zip(bands[:-1], bands[1:]):
        inside = (snr >= low) & (snr < high)
        row = dict(band=f"{low:g}-{high:g}", count=int(inside.sum()))
        for name in names:
            values = log_densities[name]["log_q"][inside]
            entry = dict(mean_log_q=float(values.mean()) if inside.any() else None)
            if name != baseline and inside.sum() > 1:
                difference = values - log_densities[baseline]["log_q"][inside]
                entry.update(difference=float(difference.mean()),
                             difference_error=float(difference.std(ddof=1) / np.sqrt(inside.sum())))
            row[name] = entry
        summary.append(row)
    return summary


def load_models(paths, reference_metadata):
    """The models at ``paths`` (name: the path), each checked against the evaluation set's data settings."""
    models = {}
    for path in paths:
        model, metadata = load_model(path)
        check_model_fits(metadata, reference_metadata, path)
        models[path] = model
    return models
