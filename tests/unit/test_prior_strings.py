"""Stored prior strings are parsed without evaluating code (issue 14, item 2)."""

import bilby
import numpy as np
import pytest

from bilby_dingo.models import DEFAULT_MODEL_FILE
from bilby_dingo.network.model_file import read_model_file
from bilby_dingo.prior_strings import PriorStringError, parse_prior_string, parse_prior_strings


def test_the_default_models_priors_round_trip_exactly():
    stored = read_model_file(DEFAULT_MODEL_FILE)["metadata"]["priors"]
    for key, text in stored.items():
        assert repr(parse_prior_string(text)) == text, key
    assert parse_prior_string(stored["chirp_mass"]).latex_label == r"$\mathcal{M}$"


@pytest.mark.parametrize("text, expected", [
    ("Uniform(20, 50, 'chirp_mass')", bilby.core.prior.Uniform(20, 50, "chirp_mass")),
    ("bilby.core.prior.PowerLaw(alpha=2, minimum=-1e2, maximum=+3e3)", bilby.core.prior.PowerLaw(2, -100.0, 3000.0)),
    ("Uniform(minimum=0, maximum=2 * np.pi, boundary='periodic')",
     bilby.core.prior.Uniform(0, 2 * np.pi, boundary="periodic")),
    ("Uniform(minimum=-pi / 2, maximum=inf)", bilby.core.prior.Uniform(-np.pi / 2, np.inf)),
    ("Constraint(minimum=0.125, maximum=1)", bilby.core.prior.Constraint(0.125, 1)),
    ("bilby.gw.prior.UniformInComponentsChirpMass(minimum=25, maximum=35)",
     bilby.gw.prior.UniformInComponentsChirpMass(25, 35)),
    ("-3.5", bilby.core.prior.DeltaFunction(-3.5)),
])
def test_literal_priors_are_read(text, expected):
    assert repr(parse_prior_string(text)) == repr(expected)


MARKER_CODE = "__import__('pathlib').Path(MARKER).touch()"


@pytest.mark.parametrize("template, message", [
    # bilby's own parser evaluates this one: the name argument starts with "[", so it is eval'ed.
    ("Uniform(minimum=20, maximum=50, name=[{code}])", "not a bilby prior class"),
    ("{code}", "not a bilby prior class|not one of the bilby prior classes"),
    ("Uniform(minimum={code}, maximum=50)", "not a bilby prior class"),
    ("os.system('touch MARKER')", "'os.system', which is not a bilby prior class"),
    ("(lambda: {code})()", "not a bilby prior class"),
    ("Uniform.__init__.__globals__['os'].system('touch MARKER')", "not a bilby prior class"),
    ("bilby.core.utils.command_line_args.__class__(0, 1)", "not a bilby prior class"),
    ("FromFile(file_name='/etc/passwd')", "not one of the bilby prior classes"),
    ("Uniform(0, 1, **{{'name': 'x'}})", r"unpacking \(\*\*kwargs\)"),
    ("Uniform(0, [1][0])", "not a literal"),
    ("Uniform(0, 10 ** 10 ** 10)", "not a literal"),
])
def test_code_in_a_prior_string_is_refused_and_never_run(tmp_path, template, message):
    marker = tmp_path / "MARKER"
    text = template.format(code=MARKER_CODE.replace("MARKER", repr(str(marker))))
    with pytest.raises(PriorStringError, match=message):
        parse_prior_string(text)
    assert not marker.exists()


def test_the_error_names_the_key():
    with pytest.raises(PriorStringError, match="The prior of 'chirp_mass': .*'open'"):
        parse_prior_strings({"mass_ratio": "Uniform(0.1, 1)", "chirp_mass": "open('x')"})
