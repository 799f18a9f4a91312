"""Every bad input gets an error naming the problem and the fix, before any heavy work."""

import numpy as np
import pytest

from bilby_dingo import MultivariateStudentTProposal, Proposal
from bilby_dingo.importance_sampling.driver import ImportanceSamplingError
from bilby_dingo.proposals import ProposalError
from tests.integration.test_sampler import COV, MEAN, run, student_t
from tests.models import CountingLikelihood


class BrokenProposal(Proposal):
    """Returns -inf log q for every third draw."""

    parameter_keys = ["x", "y"]

    def describe(self):
        return "broken"

    def sample_and_log_prob(self, n, rng):
        log_prob = np.zeros(n)
        log_prob[::3] = -np.inf
        return {"x": rng.normal(size=n), "y": rng.normal(size=n)}, log_prob


class ForgetfulProposal(BrokenProposal):
    """Claims to draw y but does not return it."""

    def sample_and_log_prob(self, n, rng):
        return {"x": rng.normal(size=n)}, np.zeros(n)


# Each kind of keyword error once through bilby.run_sampler (it must come before any likelihood call); every
# bad value of every keyword is checked on the settings object in tests/unit/test_settings.py.
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(nlive=100), r"Unknown keyword\(s\) for sampler 'dingo': \['nlive'\]. Valid keywords are"),
        (dict(num_samples=0), "num_samples must be a positive integer"),
        ({"num-samples": 10, "num_samples": 20}, "'num_samples' is given twice with different values"),
    ],
)
def test_bad_keywords_fail_before_any_likelihood_call(tmp_path, kwargs, message):
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(ValueError, match=message):
        run(tmp_path, likelihood=likelihood, **kwargs)
    assert likelihood.calls == 0


def test_unknown_proposal_name(tmp_path):
    with pytest.raises(ProposalError, match="proposal='flow' is not understood"):
        run(tmp_path, proposal="flow", soft_init=True)


def test_network_proposal_needs_a_model(tmp_path):
    with pytest.raises(ValueError, match="proposal='network' needs model=PATH"):
        run(tmp_path, proposal="network", soft_init=True)


def test_proposal_lacking_a_sampled_parameter(tmp_path):
    proposal = MultivariateStudentTProposal(["x"], [1.0], [[1.0]])
    with pytest.raises(ProposalError, match=r"does not draw the sampled parameter\(s\) \['y'\]"):
        run(tmp_path, proposal=proposal, soft_init=True)


def test_proposal_that_returns_too_few_parameters(tmp_path):
    with pytest.raises(ProposalError, match=r"returned no draws of \['y'\]"):
        run(tmp_path, proposal=ForgetfulProposal(), soft_init=True)


def test_proposal_with_nonfinite_log_q(tmp_path):
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(ProposalError, match="non-finite log q inside the prior for 334 of 1000 draws"):
        run(tmp_path, likelihood=likelihood, proposal=BrokenProposal(), num_samples=1000, soft_init=True)
    assert likelihood.calls == 0


class OverflowingProposal(BrokenProposal):
    """A standard normal in x and y, except that every tenth draw lands far outside the prior (|x| > 10) with a
    NaN log q there: its density is exact only where the prior has support."""

    def sample_and_log_prob(self, n, rng):
        x, y = rng.normal(size=n), rng.normal(size=n)
        x[::10] = 12.0
        log_prob = -0.5 * (x**2 + y**2) - np.log(2 * np.pi)
        log_prob[::10] = np.nan
        return {"x": x, "y": y}, log_prob


def test_nonfinite_log_q_outside_the_prior_is_zero_weight_not_an_error(tmp_path):
    likelihood = CountingLikelihood(MEAN, COV)
    result = run(tmp_path, likelihood=likelihood, proposal=OverflowingProposal(), num_samples=1000, soft_init=True,
                 refine=False)
    assert result.meta_data["dingo"]["num_outside_prior"] == 100
    assert likelihood.calls == 900
    assert np.all(result.nested_samples["weights"][result.nested_samples["x"] > 10] == 0)


class NaNDrawingProposal(BrokenProposal):
    """Draws NaN for x and inf for y in some draws, with a finite log q everywhere (issue 14, item 4)."""

    def sample_and_log_prob(self, n, rng):
        x, y = rng.normal(size=n), rng.normal(size=n)
        x[::4], y[1::8] = np.nan, np.inf
        return {"x": x, "y": y}, np.zeros(n)


def test_proposal_drawing_nonfinite_parameters_is_an_error_not_zero_weight(tmp_path):
    # Such draws used to count as outside the prior (weight 0) and bias log Z without a word.
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(ProposalError, match=r"\(broken\) returned non-finite parameter values for 375 of 1000 "
                                            r"draws \(first at \{'x': nan, 'y': "):
        run(tmp_path, likelihood=likelihood, proposal=NaNDrawingProposal(), num_samples=1000, soft_init=True)
    assert likelihood.calls == 0


def test_every_weight_zero_names_the_likely_causes(tmp_path):
    far_away = MultivariateStudentTProposal(["x", "y"], [100.0, 100.0], np.eye(2))
    with pytest.raises(ImportanceSamplingError, match="All 1000 importance weights are zero .* disjoint supports"):
        run(tmp_path, proposal=far_away, num_samples=1000, soft_init=True)


def test_bad_student_t_is_refused_before_sampling():
    with pytest.raises(ProposalError, match="not positive definite"):
        MultivariateStudentTProposal(["x", "y"], [0, 0], -np.eye(2))


def test_student_t_proposal_still_works(tmp_path):
    assert run(tmp_path, proposal=student_t(), num_samples=500).meta_data["dingo"]["n_eff"] > 100


# --- issue 14, item 13: minor inputs, each a clear error before the likelihood is called ----------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_samples=True), r"num_samples must be an integer, got True \(a bool\)"),
    (dict(batch_size=np.True_), r"batch_size must be an integer, got np.True_ \(a bool\)"),
    (dict(check_point_delta_t=True), r"check_point_delta_t must be a number, got True \(a bool\)"),
    (dict(sampling_seed=-1), "sampling_seed must be a non-negative integer"),
    (dict(npool=-1), r"npool must be a positive integer \(the number of likelihood processes"),
    (dict(npool="two"), "npool must be a positive integer .*got 'two'"),
    (dict(npool=True), "npool must be a positive integer .*got True"),
    (dict(n_pool=0), "n_pool must be a positive integer"),
])
def test_bools_and_negative_seeds_are_refused_before_any_likelihood_call(tmp_path, kwargs, message):
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(ValueError, match=message):
        run(tmp_path, likelihood=likelihood, **kwargs)
    assert likelihood.calls == 0


def test_npool_given_as_a_string_is_coerced_as_bilby_pipe_gives_it(tmp_path):
    result = run(tmp_path, proposal=student_t(), num_samples=300, refine=False, npool="2")
    assert result.meta_data["dingo"]["npool"] == 2


class SilentProposal(BrokenProposal):
    """Forgets the return statement."""

    def sample_and_log_prob(self, n, rng):
        rng.normal(size=n)


def test_proposal_returning_none_is_a_clear_error(tmp_path):
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(ProposalError, match=r"\(broken\)\.sample_and_log_prob returned NoneType; it must return "
                                            r"\(samples, log_prob\)"):
        run(tmp_path, likelihood=likelihood, proposal=SilentProposal(), soft_init=True)
    assert likelihood.calls == 0


def test_model_file_lacking_metadata_names_the_missing_keys(tmp_path):
    from bilby_dingo.models import DEFAULT_MODEL_FILE, analysis_priors
    from bilby_dingo.network.model_file import ModelFileError, atomic_torch_save, read_model_file

    payload = read_model_file(DEFAULT_MODEL_FILE)
    payload["metadata"] = {key: value for key, value in payload["metadata"].items() if key not in ("deltaT", "num_bins")}
    path = str(tmp_path / "incomplete.pt")
    atomic_torch_save(payload, path)
    with pytest.raises(ModelFileError, match=r"incomplete.pt lacks \['deltaT', 'num_bins'\], which every bilby_dingo "
                                             r"model file carries.*Retrain it"):
        analysis_priors(1126259462.4, model=path)


@pytest.mark.parametrize("damage, message", [
    (lambda arrays: arrays.update(log_prior=arrays["log_prior"][:-1]), r"log_prior has shape \(2999,\), expected "
                                                                       r"\(3000,\) for 3000 draws"),
    (lambda arrays: arrays.update(theta=arrays["theta"][:, :1]), r"theta has shape \(3000, 1\), expected \(N, 2\) for the parameters \['x', 'y'\]"),
])
def test_inconsistent_checkpoint_is_a_checkpoint_error(tmp_path, damage, message):
    import json

    from bilby_dingo.importance_sampling.draws import ARRAYS, CheckpointError

    run(tmp_path, proposal=student_t(), num_samples=3000, batch_size=1000, refine=False)
    path = tmp_path / "dingo_test" / "test_checkpoint.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in ARRAYS}
        metadata = json.loads(str(data["metadata"]))
    damage(arrays)
    np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)
    likelihood = CountingLikelihood(MEAN, COV)
    with pytest.raises(CheckpointError, match=f"is inconsistent \\({message}\\): it was damaged or edited.*resume=False"):
        run(tmp_path, likelihood=likelihood, proposal=student_t(), num_samples=3000, batch_size=1000, soft_init=True,
            refine=False)
    assert likelihood.calls == 0
