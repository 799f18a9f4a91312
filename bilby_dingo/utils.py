"""Small helpers shared by the pipeline steps."""

import contextlib
import os
import tempfile

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
