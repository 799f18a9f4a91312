"""The four command-line tools: --version, and one line with exit code 2 for a missing input (issue 14, item 12)."""

import pytest

from bilby_dingo import __version__
from bilby_dingo.cli import info_main, train_main
from bilby_dingo.importance_sampling.merge import main as merge_main
from bilby_dingo.validation.pp import build_parser as pp_parser
from bilby_dingo.validation.pp import main as pp_main

TOOLS = {"bilby_dingo_train": train_main, "bilby_dingo_info": info_main, "bilby_dingo_pp": pp_main,
         "bilby_dingo_merge": merge_main}


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_version(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        TOOLS[name](["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"{name} {__version__}\n"


@pytest.mark.parametrize("name, args", [
    ("bilby_dingo_train", ["missing.ini"]), ("bilby_dingo_info", ["missing.pt"]), ("bilby_dingo_pp", ["missing.pt"]),
    ("bilby_dingo_merge", ["missing_result.hdf5"]),
])
def test_missing_input_is_one_line_and_exit_code_2(name, args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        TOOLS[name](args)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert error.startswith(f"{name}: error: ") and error.count("\n") == 1 and "missing" in error, error
    assert list(tmp_path.iterdir()) == []  # nothing written (bilby_dingo_pp made its outdir before)


def test_every_pp_option_has_help():
    undocumented = [action.dest for action in pp_parser()._actions if not action.help]
    assert undocumented == []
