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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(nlive=100), r"Unknown keyword\(s\) for sampler 'dingo': \['nlive'\]. Valid keywords are"),
        (dict(num_samples=0), "num_samples must be a positive integer"),
        (dict(num_samples=-3), "num_samples must be a positive integer"),
        (dict(target_n_eff=0), "target_n_eff must be a positive integer"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(target_n_eff=100, num_samples=100), "either num_samples"),
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
    with pytest.raises(ProposalError, match="non-finite log q for 334 of 1000 draws"):
        run(tmp_path, likelihood=likelihood, proposal=BrokenProposal(), num_samples=1000, soft_init=True)
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
