"""Interrupts: SIGTERM/SIGINT save the evaluated draws and exit with bilby's code; resume continues."""

import signal

import numpy as np
import pytest

from bilby_dingo.importance_sampling.draws import CheckpointError, DrawStore
from bilby_dingo.importance_sampling.driver import EVALUATION_CHUNK
from tests.integration.test_sampler import COV, MEAN, run, student_t
from tests.models import CountingLikelihood

# Plain importance sampling (refinement has its own interrupt test in test_refinement.py).
SETTINGS = dict(num_samples=3000, batch_size=1000, sampling_seed=5, soft_init=True, refine=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, signum):
    reference = run(tmp_path / "reference", likelihood=CountingLikelihood(MEAN, COV), proposal=student_t(),
                    **SETTINGS)

    interrupted = CountingLikelihood(MEAN, COV, signal_after=1500, signum=signum)
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path / "run", likelihood=interrupted, proposal=student_t(), exit_code=77, **SETTINGS)
    assert exit_info.value.code == 77
    checkpoint = DrawStore.load(tmp_path / "run" / "dingo_test" / "test_checkpoint.npz")
    assert 0 < checkpoint.num_evaluated < 3000
    # The checkpoint holds every evaluation recorded before the signal: all but the chunk in flight.
    assert checkpoint.num_likelihood_evaluations >= 1500 - EVALUATION_CHUNK

    resumed_likelihood = CountingLikelihood(MEAN, COV)
    resumed = run(tmp_path / "run", likelihood=resumed_likelihood, proposal=student_t(), **SETTINGS)
    # Only the draws not yet evaluated are evaluated again.
    assert resumed_likelihood.calls == 3000 - checkpoint.num_evaluated
    np.testing.assert_array_equal(resumed.nested_samples.to_numpy(), reference.nested_samples.to_numpy())
    assert resumed.log_evidence == reference.log_evidence


def test_finished_run_resumes_without_new_likelihood_calls(tmp_path):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    likelihood = CountingLikelihood(MEAN, COV)
    result = run(tmp_path, likelihood=likelihood, proposal=student_t(), **SETTINGS)
    assert likelihood.calls == 0 and result.meta_data["dingo"]["num_proposals"] == 3000


def test_resume_false_starts_afresh(tmp_path):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    likelihood = CountingLikelihood(MEAN, COV)
    run(tmp_path, likelihood=likelihood, proposal=student_t(), resume=False, **SETTINGS)
    assert likelihood.calls == 3000


def test_resume_keeps_the_checkpoint_seed(tmp_path):
    first = run(tmp_path, proposal=student_t(), **SETTINGS)
    again = run(tmp_path, proposal=student_t(), **{**SETTINGS, "sampling_seed": 6})
    assert again.meta_data["dingo"]["sampling_seed"] == first.meta_data["dingo"]["sampling_seed"] == 5


def test_checkpoint_of_another_analysis_is_refused(tmp_path):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    with pytest.raises(CheckpointError, match="belongs to another analysis"):
        run(tmp_path, proposal=student_t(dof=3.0), **SETTINGS)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    path = tmp_path / "dingo_test" / "test_checkpoint.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="Cannot read the checkpoint .* resume=False"):
        run(tmp_path, proposal=student_t(), **SETTINGS)


def test_checkpoint_is_written_atomically(tmp_path):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    leftovers = [p.name for p in (tmp_path / "dingo_test").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
