"""The analysis fingerprint: each ingredient that changes the answer changes its own named component."""

import os

import bilby
import numpy as np
import pytest

from bilby_dingo.importance_sampling.fingerprint import analysis_fingerprint, differing_components
from bilby_dingo.proposals import MultivariateStudentTProposal, PriorProposal
from bilby_dingo.proposals.network import NetworkProposal
from bilby_dingo.simulation.noise import BILBY_NOISE_CURVES
from tests.conftest import gw_injection_likelihood


def fingerprint(likelihood, priors):
    keys = ["chirp_mass", "mass_ratio"]
    return analysis_fingerprint(likelihood, priors, keys, PriorProposal(priors, keys))


@pytest.fixture(scope="module")
def gw_event():
    return gw_injection_likelihood(seed=11)


def test_same_analysis_same_fingerprint(gw_event):
    likelihood, priors, _ = gw_event
    again, priors_again, _ = gw_injection_likelihood(seed=11)
    assert differing_components(fingerprint(likelihood, priors), fingerprint(again, priors_again)) == []


def test_label_and_outdir_that_bilby_sets_on_the_likelihood_do_not_count(gw_event):
    # bilby.run_sampler sets them; bilby_pipe's parallel runs of one analysis differ in them.
    likelihood, priors, _ = gw_event
    before = fingerprint(likelihood, priors)
    likelihood.label, likelihood.outdir = "run_par1", "elsewhere"
    assert differing_components(before, fingerprint(likelihood, priors)) == []


def test_psd_change_is_named(gw_event):
    likelihood, priors, _ = gw_event
    before = fingerprint(likelihood, priors)
    ifo = likelihood.interferometers[0]
    original = ifo.power_spectral_density
    ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(
        asd_file=os.path.join(BILBY_NOISE_CURVES, "aLIGO_mid_asd.txt"))
    try:
        assert differing_components(before, fingerprint(likelihood, priors)) == ["psd[H1]"]
    finally:
        ifo.power_spectral_density = original


def test_band_change_is_named(gw_event):
    likelihood, priors, _ = gw_event
    before = fingerprint(likelihood, priors)
    ifo = likelihood.interferometers[1]
    ifo.maximum_frequency = 90.0
    try:
        assert "band[L1]" in differing_components(before, fingerprint(likelihood, priors))
    finally:
        ifo.maximum_frequency = 100.0


def test_waveform_and_marginalisation_settings_change_the_likelihood_component(gw_event):
    likelihood, priors, _ = gw_event
    before = fingerprint(likelihood, priors)
    arguments = likelihood.waveform_generator.waveform_arguments
    arguments["reference_frequency"] = 25.0
    try:
        assert differing_components(before, fingerprint(likelihood, priors)) == ["likelihood"]
    finally:
        arguments["reference_frequency"] = 20.0
    phase_free = priors.copy()
    phase_free["phase"] = bilby.core.prior.Uniform(0, 2 * np.pi, "phase", boundary="periodic")
    marginalised = bilby.gw.likelihood.GravitationalWaveTransient(
        likelihood.interferometers, likelihood.waveform_generator, priors=phase_free, phase_marginalization=True)
    assert differing_components(before, fingerprint(marginalised, priors)) == ["likelihood"]


def test_prior_change_is_named(gw_event):
    likelihood, priors, _ = gw_event
    narrower = priors.copy()
    narrower["chirp_mass"] = bilby.core.prior.Uniform(26, 35, "chirp_mass")
    assert differing_components(fingerprint(likelihood, priors), fingerprint(likelihood, narrower)) == ["priors"]


def test_student_t_fingerprint_sees_the_numbers_its_description_leaves_out():
    first = MultivariateStudentTProposal(["a"], [0.0], [[1.0]], dof=3)
    second = MultivariateStudentTProposal(["a"], [0.0], [[1.0 + 1e-12]], dof=3)
    assert first.describe() == second.describe()
    assert first.fingerprint() != second.fingerprint()


def test_network_fingerprint_hashes_the_model_file_bytes(tmp_path):
    # A model retrained into the same path has the same description, but other weights.
    proposal = NetworkProposal.__new__(NetworkProposal)
    proposal.model_path, proposal.device = str(tmp_path / "model.pt"), "cpu"
    proposal.learned_and_sampled, proposal.from_prior, proposal.auxiliary = ["chirp_mass"], [], []
    (tmp_path / "model.pt").write_bytes(b"weights of the first training")
    first = proposal.fingerprint()
    (tmp_path / "model.pt").write_bytes(b"weights of the second training")
    assert proposal.fingerprint() != first
    proposal.device = "cuda"
    assert "device cuda" in proposal.fingerprint()


def test_old_string_fingerprints_are_reported_as_unnamed():
    assert differing_components('{"parameters": ["x"]}', {"parameters": "abc"}) == [
        "all (the stored fingerprint has no named components)"]


def test_object_arrays_are_hashed_by_value_not_address():
    class Holder(bilby.core.likelihood.Likelihood):
        def __init__(self, values):
            super().__init__()
            self.values = np.array(values, dtype=object)

    assert analysis_fingerprint(Holder([[1], "a"]), {}, [], PriorProposal({}, []))["data"] == \
        analysis_fingerprint(Holder([[1], "a"]), {}, [], PriorProposal({}, []))["data"]
