"""Interrupts: SIGTERM/SIGINT save the evaluated draws and exit with bilby's code; resume continues."""

import signal

import bilby
import numpy as np
import pytest

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.importance_sampling.draws import CheckpointError, DrawStore
from bilby_dingo.importance_sampling.driver import EVALUATION_CHUNK
from tests.integration.test_sampler import COV, MEAN, run, student_t
from tests.models import CheckpointReader, CountingLikelihood

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


def test_interrupted_target_n_eff_run_resumes_with_a_pool_to_the_uninterrupted_result(tmp_path):
    """The stopping rule's decisions and the batches survive the interrupt; the resumed run may use another
    npool (workers only evaluate the likelihood)."""
    settings = dict(target_n_eff=2500, batch_size=1000, sampling_seed=5, soft_init=True, refine=False)
    reference = run(tmp_path / "reference", likelihood=CountingLikelihood(MEAN, COV), proposal=student_t(), **settings)
    assert reference.meta_data["dingo"]["num_batches"] >= 3  # the interrupt below falls before the end

    with pytest.raises(SystemExit):
        run(tmp_path / "run", likelihood=CountingLikelihood(MEAN, COV, signal_after=1500), proposal=student_t(),
            exit_code=77, **settings)
    checkpoint = DrawStore.load(tmp_path / "run" / "dingo_test" / "test_checkpoint.npz")
    assert 0 < checkpoint.num_evaluated < reference.meta_data["dingo"]["num_proposals"]
    resumed = run(tmp_path / "run", likelihood=CountingLikelihood(MEAN, COV), proposal=student_t(), npool=2,
                  **settings)
    assert resumed.meta_data["dingo"]["npool"] == 2
    np.testing.assert_array_equal(resumed.nested_samples.to_numpy(), reference.nested_samples.to_numpy())
    assert resumed.log_evidence == reference.log_evidence


def test_a_checkpoint_is_written_within_a_batch_every_check_point_delta_t(tmp_path):
    """One batch of 3,000 draws is evaluated in chunks of EVALUATION_CHUNK; the 2,500th likelihood call
    looks at the checkpoint file."""
    settings = dict(num_samples=3000, batch_size=3000, sampling_seed=5, soft_init=True, refine=False)
    seen = {}
    for period in (1e-6, 600.0):
        outdir = tmp_path / str(period)
        likelihood = CheckpointReader(MEAN, COV, str(outdir / "dingo_test" / "test_checkpoint.npz"), at_call=2500)
        run(outdir, likelihood=likelihood, proposal=student_t(), check_point_delta_t=period, **settings)
        seen[period] = likelihood.seen
    # Period elapsed after every chunk: the first two chunks are on disk. The default 600 s: nothing yet.
    assert seen == {1e-6: 2 * EVALUATION_CHUNK, 600.0: "no checkpoint"}


def test_a_checkpoint_write_that_fails_midway_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    path = tmp_path / "dingo_test" / "test_checkpoint.npz"
    before = DrawStore.load(path)

    def failing_savez(file, **arrays):
        with open(file, "wb") as stream:
            stream.write(b"PK\x03\x04 the first bytes of a zip file")  # then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space left"):
        before.save(str(path))
    monkeypatch.undo()
    after = DrawStore.load(path)
    assert after.num_evaluated == before.num_evaluated == 3000
    np.testing.assert_array_equal(after.log_likelihood, before.log_likelihood)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_finished_run_resumes_without_new_likelihood_calls(tmp_path):
    # The same likelihood class both times: the class is part of the analysis fingerprint.
    run(tmp_path, likelihood=CountingLikelihood(MEAN, COV), proposal=student_t(), **SETTINGS)
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


# --- the fingerprint: a checkpoint of another analysis is never reused (issue 14, items 1 and 7) ---------


def test_checkpoint_made_under_another_prior_is_refused_and_named(tmp_path):
    from tests.integration.test_sampler import uniform_priors

    run(tmp_path, proposal=student_t(), **SETTINGS)
    narrower = uniform_priors()
    narrower["x"] = bilby.core.prior.Uniform(-5, 5, "x")
    with pytest.raises(CheckpointError, match=r"belongs to another analysis \(differing: priors\)\. .*resume=False"):
        run(tmp_path, priors=narrower, proposal=student_t(), **SETTINGS)


def test_checkpoint_made_with_another_proposal_mean_is_refused(tmp_path):
    # describe() is the same for both Student-t proposals: only the mean differs.
    run(tmp_path, proposal=student_t(), **SETTINGS)
    shifted = MultivariateStudentTProposal(["x", "y"], [1.5, -2.0], 2 * COV, dof=5.0)
    with pytest.raises(CheckpointError, match=r"\(differing: proposal\)"):
        run(tmp_path, proposal=shifted, **SETTINGS)


def test_checkpoint_made_with_another_batch_size_is_refused(tmp_path):
    run(tmp_path, proposal=student_t(), **SETTINGS)
    with pytest.raises(CheckpointError, match=r"\(differing: settings\)"):
        run(tmp_path, proposal=student_t(), **{**SETTINGS, "batch_size": 500})


def test_checkpoint_of_other_data_is_refused_for_bilbys_gaussian_likelihood(tmp_path):
    from tests.models import linear_model_problem

    first, priors, _, _ = linear_model_problem(seed=1)
    other, _, _, _ = linear_model_problem(seed=2)  # same model, other noise realisation
    settings = dict(num_samples=200, batch_size=100, sampling_seed=5)
    run(tmp_path, likelihood=first, priors=priors, proposal="prior", **settings)
    with pytest.raises(CheckpointError, match=r"\(differing: data\)"):
        run(tmp_path, likelihood=other, priors=priors, proposal="prior", **settings)


def test_checkpoint_of_another_gw_event_is_refused_naming_the_strain(tmp_path):
    from tests.conftest import gw_injection_likelihood

    # refine=False: 20 prior draws would start refinement rounds of 5,000 GW likelihood calls each.
    settings = dict(proposal="prior", num_samples=20, batch_size=20, sampling_seed=5, refine=False)
    event_a, priors_a, _ = gw_injection_likelihood(seed=11)
    run(tmp_path, likelihood=event_a, priors=priors_a, **settings)
    event_b, priors_b, _ = gw_injection_likelihood(seed=12)  # another noise realisation: another event
    with pytest.raises(CheckpointError, match=r"\(differing: strain\[H1\], strain\[L1\]\)"):
        run(tmp_path, likelihood=event_b, priors=priors_b, **settings)


def test_fewer_num_samples_than_the_checkpoint_holds_says_what_to_do(tmp_path):
    run(tmp_path, likelihood=CountingLikelihood(MEAN, COV), proposal=student_t(), **SETTINGS)
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(CheckpointError, match=r"holds 3000 draws, more than num_samples=1000\. Pass num_samples "
                                              r">= 3000 to resume it, or resume=False"):
        run(tmp_path, likelihood=likelihood, proposal=student_t(), **{**SETTINGS, "num_samples": 1000})
    assert likelihood.calls == 0


def test_result_records_the_analysis_fingerprint(tmp_path):
    result = run(tmp_path, proposal=student_t(), **SETTINGS)
    store = DrawStore.load(tmp_path / "dingo_test" / "test_checkpoint.npz")
    fingerprint = result.meta_data["dingo"]["analysis_fingerprint"]
    assert fingerprint == store.fingerprint
    assert sorted(fingerprint) == ["data", "likelihood", "parameters", "priors", "proposal", "settings"]
