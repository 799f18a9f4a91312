import bilby
import numpy as np
import pytest
from scipy import stats

from bilby_dingo.proposals import MultivariateStudentTProposal, PriorProposal, ProposalError


def test_student_t_density_matches_scipy():
    proposal = MultivariateStudentTProposal(["a", "b"], [1.0, -1.0], [[2.0, 0.3], [0.3, 0.5]], dof=4)
    samples, log_prob = proposal.sample_and_log_prob(500, np.random.default_rng(0))
    values = np.column_stack([samples["a"], samples["b"]])
    expected = stats.multivariate_t([1.0, -1.0], [[2.0, 0.3], [0.3, 0.5]], df=4).logpdf(values)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-12)


def test_gaussian_moments():
    proposal = MultivariateStudentTProposal(["a", "b"], [1.0, -1.0], [[2.0, 0.3], [0.3, 0.5]])
    samples, log_prob = proposal.sample_and_log_prob(200_000, np.random.default_rng(1))
    values = np.column_stack([samples["a"], samples["b"]])
    np.testing.assert_allclose(values.mean(axis=0), [1.0, -1.0], atol=0.01)
    np.testing.assert_allclose(np.cov(values.T), [[2.0, 0.3], [0.3, 0.5]], atol=0.02)
    assert "Gaussian" in proposal.describe()


def test_same_rng_state_same_draws():
    proposal = MultivariateStudentTProposal(["a"], [0.0], [[1.0]], dof=3)
    first = proposal.sample_and_log_prob(10, np.random.default_rng(5))
    second = proposal.sample_and_log_prob(10, np.random.default_rng(5))
    np.testing.assert_array_equal(first[0]["a"], second[0]["a"])


@pytest.mark.parametrize(
    "mean, covariance, dof, message",
    [
        ([0.0], [[1.0]], None, r"expected \(2,\) and \(2, 2\)"),
        ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], None, "not positive definite"),
        ([0.0, 0.0], [[1.0, 0.1], [0.0, 1.0]], None, "not symmetric"),
        ([0.0, 0.0], np.eye(2), -1, "dof must be positive"),
    ],
)
def test_student_t_rejects_bad_parameters(mean, covariance, dof, message):
    with pytest.raises(ProposalError, match=message):
        MultivariateStudentTProposal(["a", "b"], mean, covariance, dof=dof)


def test_prior_proposal_honours_constraints_and_uses_the_prior_density():
    priors = bilby.core.prior.PriorDict(
        dict(
            a=bilby.core.prior.Uniform(0, 1, "a"),
            b=bilby.core.prior.Uniform(0, 1, "b"),
            total=bilby.core.prior.Constraint(0, 1, "total"),
        ),
        conversion_function=lambda sample: {**sample, "total": sample["a"] + sample["b"]},
    )
    proposal = PriorProposal(priors, ["a", "b"])
    samples, log_prob = proposal.sample_and_log_prob(2000, np.random.default_rng(3))
    assert len(samples["a"]) == 2000
    assert np.all(samples["a"] + samples["b"] <= 1)
    np.testing.assert_allclose(log_prob, priors.ln_prob(samples, axis=0))


def test_missing_parameter_is_named():
    proposal = MultivariateStudentTProposal(["a"], [0.0], [[1.0]])
    with pytest.raises(ProposalError, match=r"does not draw the sampled parameter\(s\) \['b'\]"):
        proposal.check_covers(["a", "b"])


def test_prior_proposal_on_a_bbh_prior_dict_with_a_mass_constraint():
    # bilby's ConditionalPriorDict.rescale returns one array for every key when given arrays, so
    # the proposal must draw through bilby's own sampling code instead.
    priors = bilby.gw.prior.BBHPriorDict(
        dict(
            chirp_mass=bilby.core.prior.Uniform(25, 35, "chirp_mass"),
            mass_ratio=bilby.core.prior.Uniform(0.5, 1, "mass_ratio"),
            mass_1=bilby.core.prior.Constraint(30, 1000, "mass_1"),
        )
    )
    proposal = PriorProposal(priors, ["chirp_mass", "mass_ratio"])
    samples, log_prob = proposal.sample_and_log_prob(3000, np.random.default_rng(4))
    assert samples["chirp_mass"].min() >= 25 and samples["chirp_mass"].max() <= 35
    assert samples["mass_ratio"].min() >= 0.5 and not np.allclose(samples["chirp_mass"], samples["mass_ratio"])
    mass_1 = bilby.gw.conversion.chirp_mass_and_mass_ratio_to_component_masses(
        samples["chirp_mass"], samples["mass_ratio"])[0]
    assert mass_1.min() >= 30
    assert np.all(np.isfinite(log_prob))
    again, _ = proposal.sample_and_log_prob(3000, np.random.default_rng(4))
    np.testing.assert_array_equal(samples["chirp_mass"], again["chirp_mass"])


def test_prior_proposal_leaves_bilby_generator_in_place():
    from bilby.core.utils import random

    before = random.rng
    PriorProposal(bilby.core.prior.PriorDict(dict(a=bilby.core.prior.Uniform(0, 1, "a"))), ["a"]).sample_and_log_prob(
        10, np.random.default_rng(0))
    assert random.rng is before
    random.seed(3)
    assert random.rng is not before  # bilby's seeding still reaches every prior


# --- bad data are caught before the network (issue 14, item 5) ------------------------------------------


def gw_metadata():
    """What a model trained for tests.conftest.gw_injection_likelihood's data would record."""
    return dict(detectors=["H1", "L1"], duration=4.0, sampling_frequency=256.0, minimum_frequency=20.0,
                maximum_frequency=100.0, waveform_approximant="IMRPhenomD", reference_frequency=20.0,
                post_trigger_duration=2.0, deltaT=0.02, prior_bounds={})


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_strain_names_the_detector_and_bins(bad_value):
    from bilby_dingo.proposals.event_data import check_event_against_model
    from tests.conftest import gw_injection_likelihood

    likelihood, priors, _ = gw_injection_likelihood()
    check_event_against_model(gw_metadata(), likelihood, priors)  # the clean data pass
    ifo = likelihood.interferometers[1]
    strain = ifo.strain_data._frequency_domain_strain
    bins = np.flatnonzero(ifo.frequency_array >= 30.0)[:7]
    strain[bins] = bad_value
    with pytest.raises(ProposalError, match=r"L1: the strain is not finite \(NaN or inf\) in 7 of \d+ frequency bins "
                                            r"of the model's band, at 30, 30.25, 30.5, 30.75, 31, \.\.\. Hz\. .*frame"):
        check_event_against_model(gw_metadata(), likelihood, priors)
