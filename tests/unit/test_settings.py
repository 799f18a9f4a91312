import numpy as np
import pytest

from bilby_dingo.errors import SettingsError
from bilby_dingo.settings import DEFAULT_MAX_SAMPLES, DEFAULT_NUM_SAMPLES, DingoSettings, parse_npool


def test_defaults():
    settings = DingoSettings.from_kwargs({})
    assert settings.num_samples == DEFAULT_NUM_SAMPLES and settings.target_n_eff is None
    assert settings.proposal == "prior" and settings.resume is True
    assert DingoSettings.from_kwargs(dict(model="m.pt")).proposal == "network"


def test_bilby_pipe_strings_are_coerced():
    # bilby_pipe's convert_string_to_dict leaves 'None' as a string and turns 1e5 into a float.
    settings = DingoSettings.from_kwargs(
        dict(target_n_eff=1e3, max_samples="2e5", num_samples="None", resume="False", sampling_seed=12.0)
    )
    assert settings.target_n_eff == 1000 and isinstance(settings.target_n_eff, int)
    assert settings.max_samples == 200000 and settings.num_samples is None
    assert settings.resume is False and settings.sampling_seed == 12


def test_target_n_eff_gets_a_default_budget():
    assert DingoSettings.from_kwargs(dict(target_n_eff=100)).max_samples == DEFAULT_MAX_SAMPLES


def test_unknown_keyword_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown keyword\(s\) for sampler 'dingo': \['nlive'\].*num_samples"):
        DingoSettings.from_kwargs(dict(nlive=500))


@pytest.mark.parametrize("key", ["num_samples", "target_n_eff", "batch_size"])
@pytest.mark.parametrize("value, problem", [(0, "a positive integer"), (-5, "a positive integer"),
                                            (2.5, "an integer"), ("many", "an integer")])
def test_sample_counts_must_be_positive_integers(key, value, problem):
    with pytest.raises(ValueError, match=f"{key} must be {problem}, got {value!r}"):
        DingoSettings.from_kwargs({key: value})


def test_num_samples_and_target_are_exclusive():
    with pytest.raises(ValueError, match="either num_samples .* or target_n_eff"):
        DingoSettings.from_kwargs(dict(num_samples=10, target_n_eff=10))


def test_max_samples_below_target():
    with pytest.raises(ValueError, match="max_samples=10 is below target_n_eff=100"):
        DingoSettings.from_kwargs(dict(target_n_eff=100, max_samples=10))


def test_max_samples_needs_a_target():
    with pytest.raises(ValueError, match="max_samples only applies with target_n_eff"):
        DingoSettings.from_kwargs(dict(max_samples=10))


@pytest.mark.parametrize("value", [0, 1, 1.5, "x"])
def test_efficiency_warning_is_a_fraction(value):
    with pytest.raises(ValueError, match="efficiency_warning"):
        DingoSettings.from_kwargs(dict(efficiency_warning=value))


@pytest.mark.parametrize("given, expected", [(None, 2000), ("2000", 2000), (500.0, 500), ("None", 0), (0, 0)])
def test_gnpe_guide_draws_parsing(given, expected):
    kwargs = {} if given is None else dict(gnpe_guide_draws=given)
    assert DingoSettings.from_kwargs(kwargs).gnpe_guide_draws == expected


def test_negative_gnpe_guide_draws_is_an_error():
    with pytest.raises(ValueError, match="gnpe_guide_draws=-1: give 0 or None"):
        DingoSettings.from_kwargs(dict(gnpe_guide_draws="-1"))


def test_the_keyword_table_is_the_one_source_of_the_readme_table_docstring_and_aliases():
    import os

    from bilby.core.sampler.base_sampler import Sampler

    from bilby_dingo.plugin import Dingo
    from bilby_dingo.settings import KEYWORD_ALIASES, keyword_table_markdown

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    assert keyword_table_markdown() in readme, "README's keyword table differs: paste keyword_table_markdown()"
    for name in DingoSettings.keywords():
        assert f"\n    {name}: default" in Dingo.__doc__
        assert f"`{name}`" in keyword_table_markdown() or name == "pool"
    # bilby's own spellings of the seed and checkpoint period are taken from bilby, not copied.
    for spelling in Sampler.sampling_seed_equiv_kwargs:
        assert KEYWORD_ALIASES.get(spelling, spelling) == "sampling_seed"
    for spelling in Sampler.check_point_equiv_kwargs:
        assert KEYWORD_ALIASES.get(spelling, spelling) == "check_point_delta_t"
    assert DingoSettings.from_kwargs({"batch_size": "None"}).batch_size == DingoSettings.batch_size


@pytest.mark.parametrize("given, expected", [(1, 1), ("2", 2), (4.0, 4), ("None", None), (None, None)])
def test_npool_parsing(given, expected):
    assert parse_npool("npool", given) == expected


@pytest.mark.parametrize("given", [-1, 0, 1.5, "x", True, np.True_])
def test_bad_npool_is_a_settings_error(given):
    with pytest.raises(SettingsError, match="npool must be a positive integer"):
        parse_npool("npool", given)


@pytest.mark.parametrize("given, expected", [("0.3", 0.3), (0, 0.0), (0.0, 0.0)])
def test_refine_tempered_share_parsing(given, expected):
    assert DingoSettings.from_kwargs(dict(refine_tempered_share=given)).refine_tempered_share == expected


@pytest.mark.parametrize("given", [1, 1.2, -0.1, "x", True])
def test_bad_refine_tempered_share_names_its_range(given):
    with pytest.raises(SettingsError, match=r"refine_tempered_share.*\[0, 1\)"):
        DingoSettings.from_kwargs(dict(refine_tempered_share=given))
