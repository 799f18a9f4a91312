"""dingo against dynesty through bilby on bilby's linear-model GaussianLikelihood example.

Tolerances: 1-D Jensen-Shannon divergence per parameter below 3× dynesty's own half-split JSD (the noise
of the reference: a JSD against it cannot be resolved below this), with >= 5,000 effective dingo samples;
|Δ log Z| < 3 combined standard errors (dynesty's error dominates; the closed-form evidence, to 0.01 nats,
is in test_known_answers.py).
"""

import bilby
import numpy as np
import pytest

from bilby_dingo import MultivariateStudentTProposal
from bilby_dingo.validation.compare import js_divergence, reference_jsd_floor
from tests.models import linear_model_problem


@pytest.fixture(scope="session")
def problem():
    return linear_model_problem(seed=42)


@pytest.fixture(scope="session")
def dynesty_result(problem, tmp_path_factory):
    likelihood, priors, _, _ = problem
    return bilby.run_sampler(
        likelihood, priors, sampler="dynesty", nlive=500, sample="acceptance-walk", naccept=20,
        outdir=str(tmp_path_factory.mktemp("dynesty")), label="linear", save=False, seed=123, npool=1,
    )


@pytest.fixture(scope="session")
def dingo_result(problem, tmp_path_factory):
    likelihood, priors, mean, covariance = problem
    # A proposal a user could build without any sampler: the least-squares fit, widened, heavy-tailed.
    proposal = MultivariateStudentTProposal(["m", "c"], mean, 2 * covariance, dof=5)
    return bilby.run_sampler(
        likelihood, priors, sampler="dingo", proposal=proposal, target_n_eff=20_000, batch_size=20_000,
        outdir=str(tmp_path_factory.mktemp("dingo")), label="linear", save=False, sampling_seed=123,
        diagnostic_plots=False,
    )


def test_enough_effective_samples(dingo_result):
    assert dingo_result.meta_data["dingo"]["n_eff"] >= 5000
    assert len(dingo_result.posterior) >= 5000


@pytest.mark.parametrize("key", ["m", "c"])
def test_marginals_agree(dingo_result, dynesty_result, key):
    tolerance = 3 * reference_jsd_floor(dynesty_result, [key])[key]
    divergence = js_divergence(dingo_result.posterior[key].to_numpy(), dynesty_result.posterior[key].to_numpy())
    assert divergence < tolerance, f"JSD({key}) = {divergence:.5f} nats ≥ {tolerance:.5f} (3× dynesty's half-split)"


def test_evidences_agree(dingo_result, dynesty_result):
    difference = dingo_result.log_evidence - dynesty_result.log_evidence
    error = np.hypot(dingo_result.log_evidence_err, dynesty_result.log_evidence_err)
    assert abs(difference) < 3 * error, (
        f"log Z dingo {dingo_result.log_evidence:.3f} ± {dingo_result.log_evidence_err:.3f}, "
        f"dynesty {dynesty_result.log_evidence:.3f} ± {dynesty_result.log_evidence_err:.3f}"
    )
