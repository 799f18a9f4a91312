"""The mutation check: does the test suite notice a one-line error in the core?

Run on demand (not part of ``python -m pytest tests``; about 10 min on 2 shared cores, 25 min under heavy load)::

    python -m tests.mutation.run                  # every mutant in tests/mutation/mutants.py
    python -m tests.mutation.run -k stopping      # mutants whose name contains 'stopping' (or: -k a,b)
    python -m tests.mutation.run --list           # names, files and the tests each is run against

The package and the tests are copied to a temporary directory; each mutant is applied there (the working
tree is never edited), the tests named for it run in a fresh ``python -m pytest -x`` with PYTHONPATH on the
copy, and the file is restored. A mutant is *killed* when a test fails or errors, *survives* when every test
passes, and *times out* after ``--timeout`` seconds. A mutant whose original text is not found exactly once
in its file is an *error* (the code moved on: update the mutant), never skipped. Before any mutant, the
unmutated copy runs every named test once: they must pass, or the check stops (it would measure nothing).
The session's trained test models are cached for the run (tests/conftest.py, MODEL_CACHE_VARIABLE).

Exit status 0 when every mutant is killed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from tests.mutation.mutants import MUTANTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COPIED = ("bilby_dingo", "tests", "setup.cfg", "pyproject.toml")


class MutationError(RuntimeError):
    """A mutant that cannot be applied."""


def copy_project(destination):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = os.path.join(ROOT, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(destination, name), ignore=ignore)
        else:
            shutil.copy2(source, destination)


def mutated_text(text, mutant):
    """``text`` with the mutant's original replaced; MutationError unless the original occurs exactly once."""
    count = text.count(mutant.original)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        raise MutationError(f"original text {where} in {mutant.file}: {mutant.original!r}")
    return text.replace(mutant.original, mutant.replacement)


def environment(copy, cache):
    env = dict(os.environ)
    env["PYTHONPATH"] = copy + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a restored file must never be shadowed by a mutant's bytecode
    env["BILBY_DINGO_TEST_MODEL_CACHE"] = cache
    return env


def run_pytest(copy, tests, timeout, env):
    """(status, seconds, detail): status 'passed', 'failed', 'timeout' or 'no tests'."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.monotonic()
    try:
        completed = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    output = completed.stdout + completed.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    if completed.returncode == 0:
        return "passed", seconds, ""
    if completed.returncode == 5:
        return "no tests", seconds, output[-2000:]
    return "failed", seconds, failed[0] if failed else output.strip().splitlines()[-1][:200]


def check_imports_the_copy(copy, env):
    """The editable install must not shadow the copy (or every mutant would 'survive')."""
    path = subprocess.run([sys.executable, "-c", "import bilby_dingo; print(bilby_dingo.__file__)"], cwd=copy,
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.realpath(path).startswith(os.path.realpath(copy)):
        raise SystemExit(f"The copy's bilby_dingo is shadowed by {path}; the mutation check cannot run.")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", default=None,
                        help="run only the mutants whose name contains this (several: comma-separated)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant (default 300)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--report", default=None, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    words = None if args.select is None else [word for word in args.select.split(",") if word]
    mutants = [m for m in MUTANTS if words is None or any(word in m.name for word in words)]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name}: {mutant.file}\n    {mutant.why}\n    tests: {' '.join(mutant.tests)}")
        return 0
    names = [m.name for m in MUTANTS]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SystemExit(f"Mutant names must be unique: {duplicates}")

    with tempfile.TemporaryDirectory(prefix="bilby_dingo_mutation_") as workspace:
        copy, cache = os.path.join(workspace, "project"), os.path.join(workspace, "models")
        os.makedirs(copy)
        copy_project(copy)
        env = environment(copy, cache)
        check_imports_the_copy(copy, env)

        # Every mutant's original must be found before anything runs: a moved line is an error, not a skip.
        rows, runnable = [], []
        for mutant in mutants:
            with open(os.path.join(copy, mutant.file)) as stream:
                try:
                    mutated_text(stream.read(), mutant)
                    runnable.append(mutant)
                except MutationError as error:
                    rows.append((mutant, "error", 0.0, str(error)))

        tests = sorted({test for mutant in runnable for test in mutant.tests})
        status, seconds, detail = run_pytest(copy, tests, max(args.timeout, 1800), env)
        print(f"baseline (unmutated, {len(tests)} test selections): {status} in {seconds:.0f} s", flush=True)
        if status != "passed":
            raise SystemExit(f"The unmutated tests do not pass ({status}: {detail}); fix them before mutating.")

        for mutant in runnable:
            path = os.path.join(copy, mutant.file)
            with open(path) as stream:
                original = stream.read()
            try:
                with open(path, "w") as stream:
                    stream.write(mutated_text(original, mutant))
                status, seconds, detail = run_pytest(copy, mutant.tests, args.timeout, env)
            finally:
                with open(path, "w") as stream:
                    stream.write(original)
            outcome = {"failed": "killed", "passed": "SURVIVED"}.get(status, status)
            rows.append((mutant, outcome, seconds, detail))
            print(f"{outcome:9s} {seconds:6.1f} s  {mutant.name}  {detail}", flush=True)

    killed = sum(outcome == "killed" for _, outcome, _, _ in rows)
    lines = ["| mutant | file | outcome | s | caught by |", "|---|---|---|---|---|"]
    order = {m.name: i for i, m in enumerate(MUTANTS)}
    for mutant, outcome, seconds, detail in sorted(rows, key=lambda row: order[row[0].name]):
        lines.append(f"| {mutant.name} | {mutant.file} | {outcome} | {seconds:.0f} | {detail} |")
    lines.append(f"\nkilled {killed}/{len(rows)}")
    table = "\n".join(lines)
    print(table)
    if args.report:
        with open(args.report, "w") as stream:
            stream.write(table + "\n")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
