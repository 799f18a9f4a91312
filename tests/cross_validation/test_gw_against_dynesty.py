"""The network proposal + importance sampling against bilby+dynesty on the same GW injection and likelihood.

Chirp mass and mass ratio free, everything else fixed (H1+L1, 4 s, 256 Hz, IMRPhenomD, O4 noise,
network SNR ≈ 18). Tolerances: 1-D JSD < 0.01 nats; |Δ log Z| < 3 combined standard errors.
Three dingo analyses: the two-parameter network with the training prior and with a narrower
prior, and the GNPE network with the time free as well (±10 ms around the trigger).
"""

import bilby
import numpy as np
import pytest

from bilby_dingo.validation.compare import js_divergence
from tests.conftest import GW_TRIGGER_TIME, gw_injection_likelihood

JSD_TOLERANCE = 0.01

# dynesty runs of a GW likelihood: 2-5 min per analysis on 2 shared cores.
pytestmark = pytest.mark.slow


def with_free_time(priors):
    priors = priors.copy()
    priors["geocent_time"] = bilby.core.prior.Uniform(GW_TRIGGER_TIME - 0.01, GW_TRIGGER_TIME + 0.01, "geocent_time")
    return priors


def narrow(priors):
    priors = priors.copy()
    priors["chirp_mass"] = bilby.core.prior.Uniform(29.0, 31.0, "chirp_mass")
    return priors


def run_dynesty(likelihood, priors, outdir):
    return bilby.run_sampler(likelihood, priors, sampler="dynesty", nlive=150, sample="acceptance-walk", naccept=20,
                             outdir=str(outdir), label="dynesty", save=False, seed=7, npool=1)


def run_dingo(likelihood, priors, outdir, model):
    return bilby.run_sampler(likelihood, priors, sampler="dingo", model=model, target_n_eff=1500, batch_size=10000,
                             outdir=str(outdir), label="dingo", save=False, sampling_seed=7, resume=False,
                             gnpe_chains=2000, diagnostic_plots=False)


@pytest.fixture(scope="module")
def dynesty_results(tmp_path_factory):
    """dynesty once per prior, shared by the dingo analyses of that prior."""
    cache = {}

    def get(case):
        if case not in cache:
            cache[case] = run_dynesty(*analysis(case), tmp_path_factory.mktemp("dynesty"))
        return cache[case]

    return get


def analysis(case):
    likelihood, priors, _ = gw_injection_likelihood()
    priors = {"training prior": lambda p: p, "narrower prior": narrow, "GNPE network": with_free_time}[case](priors)
    return likelihood, priors


@pytest.fixture(scope="module", params=["training prior", "narrower prior", "GNPE network"])
def results(request, dynesty_results, tmp_path_factory):
    model = request.getfixturevalue("gnpe_model" if request.param == "GNPE network" else "masses_model")
    outdir = tmp_path_factory.mktemp("gw_cross_validation")
    return run_dingo(*analysis(request.param), outdir, model), dynesty_results(request.param)


@pytest.mark.parametrize("key", ["chirp_mass", "mass_ratio"])
def test_marginals_agree(results, key):
    dingo, dynesty = results
    # The weighted draws carry all of n_eff; the rejection-sampled posterior keeps fewer.
    weighted = dingo.nested_samples[dingo.nested_samples["weights"] > 0]
    divergence = js_divergence(weighted[key].to_numpy(), dynesty.posterior[key].to_numpy(),
                               weights_a=weighted["weights"].to_numpy())
    assert divergence < JSD_TOLERANCE, f"JSD({key}) = {divergence:.4f} nats"


def test_evidences_agree(results):
    dingo, dynesty = results
    difference = dingo.log_evidence - dynesty.log_evidence
    error = np.hypot(dingo.log_evidence_err, dynesty.log_evidence_err)
    assert abs(difference) < 3 * error, (
        f"log Z dingo {dingo.log_evidence:.3f} ± {dingo.log_evidence_err:.3f}, "
        f"dynesty {dynesty.log_evidence:.3f} ± {dynesty.log_evidence_err:.3f}")


def test_network_proposal_was_used(results):
    dingo, _ = results
    meta = dingo.meta_data["dingo"]
    assert "bilby_dingo network" in meta["proposal"]
    assert meta["n_eff"] >= 1500

