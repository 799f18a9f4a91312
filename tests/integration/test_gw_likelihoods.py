"""bilby's other GW likelihoods and marginalisations with the network proposal.

Each analysis is compared with the standard GravitationalWaveTransient run on the same data
(same draws: same model, seed and search parameters), or checked to reconstruct what bilby
marginalised.
"""

import bilby
import numpy as np
import pytest
from scipy.special import logsumexp

from tests.conftest import GW_INJECTION, GW_TRIGGER_TIME, gw_injection_likelihood


def run(likelihood, priors, model, tmp_path, label, **kwargs):
    kwargs.setdefault("num_samples", 3000)
    # The likelihood classes are compared on the same proposal draws: refinement would adapt the proposal
    # to each likelihood's own values.
    kwargs.setdefault("refine", False)
    return bilby.run_sampler(likelihood, priors, sampler="dingo", model=model, outdir=str(tmp_path), label=label,
                             save=False, sampling_seed=3, resume=False, diagnostic_plots=False, **kwargs)


@pytest.fixture(scope="module")
def standard_run(masses_model, tmp_path_factory):
    likelihood, priors, _ = gw_injection_likelihood()
    return run(likelihood, priors, masses_model, tmp_path_factory.mktemp("standard"), "standard")


def _same_data_likelihood(likelihood_class, source_model, **kwargs):
    """The injection of gw_injection_likelihood analysed by another bilby likelihood class."""
    reference, priors, injection = gw_injection_likelihood()
    generator = bilby.gw.WaveformGenerator(
        duration=4.0, sampling_frequency=256.0, frequency_domain_source_model=source_model,
        parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
        waveform_arguments=dict(reference.waveform_generator.waveform_arguments),
    )
    return likelihood_class(reference.interferometers, generator, priors=priors, **kwargs), priors, injection


def _assert_same_posterior(result, standard, likelihood, log_evidence_tolerance):
    meta, reference = result.meta_data["dingo"], standard.meta_data["dingo"]
    draws = result.nested_samples
    # Same proposal draws; the weights use the approximate likelihood's own values.
    np.testing.assert_allclose(draws["chirp_mass"], standard.nested_samples["chirp_mass"])
    inside = np.flatnonzero(np.isfinite(draws["log_prior"]))[:5]
    for index in inside:
        parameters = dict(injection_parameters(), **{key: draws[key][index] for key in ["chirp_mass", "mass_ratio"]})
        # bilby's use_ratio is on for GW likelihoods: the stored value is the log-likelihood ratio.
        assert draws["log_likelihood"][index] == pytest.approx(likelihood.log_likelihood_ratio(parameters), abs=1e-6)
    assert meta["sample_efficiency"] == pytest.approx(reference["sample_efficiency"], rel=0.1)
    assert result.log_evidence == pytest.approx(standard.log_evidence, abs=log_evidence_tolerance)
    for key in ["chirp_mass", "mass_ratio"]:
        weighted = np.average(draws[key], weights=draws["weights"])
        expected = np.average(standard.nested_samples[key], weights=standard.nested_samples["weights"])
        assert weighted == pytest.approx(expected, rel=2e-3)


def test_relative_binning_likelihood(masses_model, standard_run, tmp_path):
    likelihood, priors, injection = _same_data_likelihood(
        bilby.gw.likelihood.RelativeBinningGravitationalWaveTransient,
        bilby.gw.source.lal_binary_black_hole_relative_binning,
        fiducial_parameters=injection_parameters(), epsilon=0.025,
    )
    result = run(likelihood, priors, masses_model, tmp_path, "relative_binning")
    _assert_same_posterior(result, standard_run, likelihood, log_evidence_tolerance=0.05)


def test_multibanded_likelihood(masses_model, standard_run, tmp_path):
    likelihood, priors, _ = _same_data_likelihood(
        bilby.gw.likelihood.MBGravitationalWaveTransient, bilby.gw.source.binary_black_hole_frequency_sequence,
        reference_chirp_mass=25.0,
    )
    result = run(likelihood, priors, masses_model, tmp_path, "multibanded")
    # Multibanding is built for long signals: on this 4 s, 100 Hz toy its log-likelihood ratio is off by
    # up to ~0.6 near the peak (measured: 161.98 vs 161.37 at the injection), which moves log Z as much.
    _assert_same_posterior(result, standard_run, likelihood, log_evidence_tolerance=1.0)


def injection_parameters():
    return dict(GW_INJECTION, geocent_time=GW_TRIGGER_TIME)


@pytest.mark.slow  # calibration marginalisation: ~2 min on 2 shared cores
def test_calibration_marginalisation(masses_model, standard_run, tmp_path):
    """bilby marginalises over calibration curves drawn from the spline priors; the proposal covers the
    masses and bilby's conversion reconstructs a calibration curve index for every posterior sample."""
    _, priors, _ = gw_injection_likelihood()
    reference, _, _ = gw_injection_likelihood()
    for ifo in reference.interferometers:
        ifo.calibration_model = bilby.gw.calibration.CubicSpline(
            prefix=f"recalib_{ifo.name}_", minimum_frequency=20, maximum_frequency=100, n_points=5)
        priors.update(bilby.gw.prior.CalibrationPriorDict.constant_uncertainty_spline(
            amplitude_sigma=0.05, phase_sigma=0.05, minimum_frequency=20, maximum_frequency=100, n_nodes=5,
            label=ifo.name))
    lookup = {ifo.name: str(tmp_path / f"{ifo.name}_calibration.h5") for ifo in reference.interferometers}
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(
        reference.interferometers, reference.waveform_generator, priors=priors, calibration_marginalization=True,
        calibration_lookup_table=lookup, number_of_response_curves=100)
    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", model=masses_model, num_samples=3000, outdir=str(tmp_path),
        label="calibration", save=False, sampling_seed=3, resume=False, diagnostic_plots=False, refine=False,
        conversion_function=bilby.gw.conversion.generate_all_bbh_parameters)
    assert sorted(result.search_parameter_keys) == ["chirp_mass", "mass_ratio"]
    assert result.meta_data["dingo"]["sample_efficiency"] > 0.01
    # 5% amplitude uncertainty barely moves the masses of an SNR ~18 signal.
    assert np.median(result.posterior["chirp_mass"]) == pytest.approx(
        np.median(standard_run.posterior["chirp_mass"]), abs=0.1)
    assert "recalib_index" in result.posterior.columns
    assert result.posterior["recalib_index"].nunique() > 5


def _coarse_distance_lookup_table(likelihood, shape=(100, 200)):
    """bilby's distance-marginalisation table on a coarser grid, vectorised.

    bilby builds a 400 × 800 table in a Python loop (minutes); it reads the grid from the table's
    shape, so a coarser table computed with the same formula is accepted and takes seconds.
    """
    likelihood._dist_margd_loglikelihood_array = np.zeros(shape)
    scaling = likelihood._ref_dist / likelihood._distance_array
    d_inner_h = np.outer(likelihood._d_inner_h_ref_array, scaling)
    optimal_snr_squared = np.outer(likelihood._optimal_snr_squared_ref_array, scaling ** 2)
    log_prior = np.log(likelihood.distance_prior_array * likelihood._delta_distance)
    table = np.array([logsumexp(d_inner_h - row[None, :] / 2 + log_prior, axis=1) for row in optimal_snr_squared])
    table -= logsumexp(log_prior)
    return dict(lookup_table=table, distance_array=likelihood._distance_array,
                prior_array=likelihood.distance_prior_array, reference_distance=likelihood._ref_dist,
                phase_marginalization=likelihood.phase_marginalization)


def test_distance_marginalisation_reconstructs_distance(masses_model, tmp_path, monkeypatch):
    def priors_with_free_distance():
        _, priors, _ = gw_injection_likelihood()
        priors["luminosity_distance"] = bilby.gw.prior.UniformSourceFrame(
            minimum=500, maximum=5000, name="luminosity_distance")
        return priors

    # A likelihood without bilby's own table (skip that step once), to compute the coarse one.
    monkeypatch.setattr(bilby.gw.likelihood.GravitationalWaveTransient, "_setup_distance_marginalization",
                        lambda self, lookup_table=None: None)
    bare, _, _ = gw_injection_likelihood(priors=priors_with_free_distance(), distance_marginalization=True)
    table = _coarse_distance_lookup_table(bare)
    monkeypatch.undo()
    likelihood, priors, injection = gw_injection_likelihood(
        priors=priors_with_free_distance(), distance_marginalization=True, distance_marginalization_lookup_table=table)
    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", model=masses_model, num_samples=3000, outdir=str(tmp_path),
        label="distance", save=False, sampling_seed=3, resume=False, diagnostic_plots=False, refine=False,
        conversion_function=bilby.gw.conversion.generate_all_bbh_parameters)
    assert sorted(result.search_parameter_keys) == ["chirp_mass", "mass_ratio"]
    distance = result.posterior["luminosity_distance"]
    assert distance.std() > 50
    assert distance.quantile(0.02) < injection["luminosity_distance"] < distance.quantile(0.98)
