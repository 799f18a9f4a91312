"""The atomic writer (issue 14, item 10: files respect the umask, as open() does)."""

import os
import stat

import numpy as np
import pytest

from bilby_dingo.importance_sampling.draws import DrawStore
from bilby_dingo.utils import atomic_path, current_umask


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_files_get_the_mode_open_would_give(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    path = tmp_path / "file.txt"
    with atomic_path(str(path), suffix=".txt") as temporary, open(temporary, "w") as stream:
        stream.write("content")
    assert stat.S_IMODE(os.stat(path).st_mode) == expected
    assert path.read_text() == "content"


def test_a_checkpoint_is_readable_by_the_group(tmp_path, umask):
    umask(0o002)
    store = DrawStore(["x"], {"data": "abc"}, seed=1, theta=np.zeros((2, 1)), log_proposal=np.zeros(2),
                      log_prior=np.zeros(2), log_likelihood=np.zeros(2), log_auxiliary=np.zeros(2))
    path = tmp_path / "checkpoint.npz"
    store.save(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o664


def test_ascii_safe_spells_out_known_symbols_and_escapes_the_rest():
    from bilby_dingo.utils import ascii_safe

    stored = ascii_safe({"proposal": "kernel ±1 ms × 3, k̂ ≤ 0.7", "path": ["/data/Résultats", ("σ", 2.0)], "n": None})
    assert stored == {"proposal": "kernel +-1 ms x 3, k^ <= 0.7", "path": ["/data/R\\xe9sultats", ("sigma", 2.0)],
                      "n": None}
