"""Small helpers shared by the pipeline steps."""

import contextlib
import hashlib
import inspect
import os
import tempfile

import numpy as np
import torch
from bilby.core.likelihood import _safe_likelihood_call
from bilby.core.utils import random as bilby_random


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """A temporary file path next to ``path``; renamed over ``path`` when the block succeeds.

    Readers never see a half-written file, and an interrupted write leaves the old file intact. The
    file gets the permissions ``open()`` would give it (0666 less the umask): mkstemp's private 0600
    would hide models and checkpoints from collaborators on a shared cluster.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def current_umask():
    """The process's umask, read without changing it where the system allows (Linux: /proc)."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)  # elsewhere the only way to read it is to set it, and set it back
    os.umask(umask)
    return umask


@contextlib.contextmanager
def bilby_generator(rng):
    """Make bilby's priors draw from ``rng`` for the duration of the block.

    bilby's priors read ``bilby.core.utils.random.rng`` (which returns ``Generator.rng``) at every
    draw; pointing it at our generator lets bilby's own sampling code (conditional, joint and constrained priors)
    run while the run's seed and checkpointed generator state stay in control.
    """
    previous = bilby_random.Generator.rng
    bilby_random.Generator.rng = rng
    try:
        yield
    finally:
        bilby_random.Generator.rng = previous


def resolve_device(name):
    """The torch device a ``device`` setting names: "auto" becomes "cuda" where PyTorch sees one, else "cpu".

    The one place that reads the setting, so that training and inference agree on what "auto" means and
    a missing GPU is reported the same way by both.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device = {name}, but PyTorch sees no CUDA device. Use device = cpu or auto.")
    return name


def log_likelihoods(likelihood, keys, theta, fixed, use_ratio=True):
    """log L (or the log L ratio) of a bilby likelihood for each row of ``theta`` (n, len(keys)) → (n,).

    Each call gets the ``fixed`` parameters plus the row's values for ``keys``. Here rather than in
    importance_sampling because proposals call it too (GNPE's likelihood-guided chain start), and
    proposals sit below importance sampling.
    """
    method = likelihood.log_likelihood_ratio if use_ratio else likelihood.log_likelihood
    if "parameters" in inspect.signature(method).parameters:
        # bilby >= 2.7 likelihoods: inspect the signature once per chunk, not once per call.
        def call(parameters):
            return method(parameters=parameters)
    else:
        def call(parameters):
            return _safe_likelihood_call(likelihood, parameters=parameters, use_ratio=use_ratio)
    values = np.empty(len(theta))
    for i, row in enumerate(np.asarray(theta, dtype=float)):
        parameters = dict(fixed)
        parameters.update(zip(keys, row.tolist()))
        values[i] = call(parameters)
    return values


# Symbols our descriptions and a user's may use, spelled in ASCII; anything else becomes a \x.. escape.
_ASCII_SPELLINGS = str.maketrans({
    "×": "x", "±": "+-", "−": "-", "–": "-", "—": "-", "≤": "<=", "≥": ">=", "≈": "~", "·": "*", "→": "->",
    "α": "alpha", "β": "beta", "θ": "theta", "κ": "kappa", "μ": "mu", "σ": "sigma", "ε": "epsilon",
    "²": "^2", "³": "^3", "⁶": "^6", "\u0302": "^",
})


def ascii_safe(value):
    """``value`` with every string in it (dict keys and values, list items) made ASCII.

    Result files are read by tools that write their strings as ASCII (pesummary's metafile), so stored
    metadata must be ASCII: known symbols are spelled out (``×`` → ``x``, ``±`` → ``+-``), any other
    character becomes a backslash escape (``é`` → ``\\xe9``). Other values are returned as they are.
    """
    if isinstance(value, str):
        return value.translate(_ASCII_SPELLINGS).encode("ascii", "backslashreplace").decode("ascii")
    if isinstance(value, dict):
        return {ascii_safe(key): ascii_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(ascii_safe(item) for item in value)
    return value


def file_sha256(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
