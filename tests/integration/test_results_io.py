"""dingo results as files: hdf5/json round trips and merging with bilby_result --merge."""

import os
import shutil
import subprocess
import sys

import bilby
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from bilby_dingo import MultivariateStudentTProposal
from tests.integration.test_sampler import COV, MEAN, student_t, uniform_priors
from tests.models import NormalisedGaussianLikelihood

# The console script installed beside this interpreter (bilby's CLI module has no __main__ guard).
BILBY_RESULT = shutil.which("bilby_result", path=os.path.dirname(sys.executable)) or "bilby_result"


def run_and_save(outdir, label, extension, seed=3, num_samples=3000):
    return bilby.run_sampler(
        NormalisedGaussianLikelihood(MEAN, COV), uniform_priors(), sampler="dingo", outdir=str(outdir),
        label=label, save=extension, proposal=student_t(), num_samples=num_samples, sampling_seed=seed,
        diagnostic_plots=False,
    )


@pytest.mark.parametrize("extension", ["hdf5", "json"])
def test_round_trip(tmp_path, extension):
    result = run_and_save(tmp_path, "trip", extension)
    loaded = bilby.read_in_result(str(tmp_path / f"trip_result.{extension}"))
    assert loaded.sampler == "dingo"
    assert loaded.log_evidence == pytest.approx(result.log_evidence)
    assert loaded.log_evidence_err == pytest.approx(result.log_evidence_err)
    assert loaded.num_likelihood_evaluations == result.num_likelihood_evaluations
    pd.testing.assert_frame_equal(loaded.nested_samples[result.nested_samples.columns], result.nested_samples,
                                  check_dtype=False)
    np.testing.assert_allclose(loaded.posterior[["x", "y"]], result.posterior[["x", "y"]])
    for key, value in result.meta_data["dingo"].items():
        assert _same(loaded.meta_data["dingo"][key], value), key


def _same(loaded, value):
    """Equal meta data after a file round trip (hdf5 gives lists back as arrays; NaN equals NaN)."""
    if isinstance(value, dict):
        return isinstance(loaded, dict) and set(loaded) == set(value) and all(_same(loaded[k], value[k]) for k in value)
    if isinstance(value, (list, tuple, np.ndarray)) or isinstance(value, float):
        try:
            return np.array_equal(np.asarray(loaded, dtype=float), np.asarray(value, dtype=float), equal_nan=True)
        except (TypeError, ValueError):
            pass
    return loaded == value


def test_bilby_result_merge_combines_evidences(tmp_path):
    seeds = [1, 2, 3]
    results = [run_and_save(tmp_path, f"part{seed}", "hdf5", seed=seed) for seed in seeds]
    files = [str(tmp_path / f"part{seed}_result.hdf5") for seed in seeds]
    subprocess.run([BILBY_RESULT, "-r", *files, "--merge", "-o",
                    str(tmp_path / "merged"), "-l", "merged", "-e", "hdf5"], check=True, capture_output=True)
    merged = bilby.read_in_result(str(tmp_path / "merged" / "merged_result.hdf5"))
    # Equal numbers of draws: bilby's mean of the evidences is the pooled importance-sampling estimate.
    pooled = np.concatenate([r.nested_samples["log_weights"].to_numpy() for r in results])
    assert merged.log_evidence == pytest.approx(logsumexp(pooled) - np.log(pooled.size), abs=1e-10)
    assert merged.log_evidence == pytest.approx(logsumexp([r.log_evidence for r in results]) - np.log(3))
    assert len(merged.posterior) > max(len(r.posterior) for r in results)


BILBY_DINGO_MERGE = shutil.which("bilby_dingo_merge", path=os.path.dirname(sys.executable)) or "bilby_dingo_merge"


def test_bilby_dingo_merge_pools_the_draws(tmp_path):
    """Unequal runs (2,000 and 6,000 draws): the pooled estimate weighs each draw alike, where bilby's
    average of the evidences would weigh the small run's draws three times as much."""
    from bilby_dingo.importance_sampling.merge import merge_results

    results = [run_and_save(tmp_path, "run_par0", "hdf5", seed=1, num_samples=2000),
               run_and_save(tmp_path, "run_par1", "hdf5", seed=2, num_samples=6000)]
    pooled = np.concatenate([r.nested_samples["log_weights"].to_numpy() for r in results])
    merged = merge_results(results, seed=0)
    assert merged.log_evidence == pytest.approx(logsumexp(pooled) - np.log(8000), abs=1e-10)
    assert merged.log_evidence == pytest.approx(np.log(1 / 400), abs=3 * merged.log_evidence_err)
    meta = merged.meta_data["dingo"]
    assert meta["num_proposals"] == 8000 and meta["sampling_seeds"] == [1, 2]
    assert meta["n_eff"] == pytest.approx(np.exp(2 * logsumexp(pooled) - logsumexp(2 * pooled)))
    assert merged.nested_samples["weights"].sum() == pytest.approx(1.0)
    # Each posterior row of run k survives with probability max_k w / max w (≤ 1): never more rows than the runs had.
    assert 0 < len(merged.posterior) <= sum(len(r.posterior) for r in results)
    assert merged.label == "run_merged"

    subprocess.run([BILBY_DINGO_MERGE, *(str(tmp_path / f"run_par{i}_result.hdf5") for i in (0, 1)), "--outdir",
                    str(tmp_path / "out"), "--seed", "0"], check=True, capture_output=True)
    from_file = bilby.read_in_result(str(tmp_path / "out" / "run_merged_result.hdf5"))
    assert from_file.log_evidence == pytest.approx(merged.log_evidence)
    assert len(from_file.posterior) == len(merged.posterior)


def test_merging_rejection_sampled_runs_matches_pooled_rejection_sampling():
    """The thinning makes every draw's survival probability w / max w over the pooled draws."""
    from bilby_dingo.importance_sampling.merge import merge_results

    rng = np.random.default_rng(4)
    runs = []
    for scale in [1.0, 0.2]:  # the second run's largest weight is 5 times smaller
        log_w = np.log(rng.uniform(0, scale, 200))
        result = bilby.core.result.Result(label="par", sampler="dingo", search_parameter_keys=["x"],
                                          log_noise_evidence=0.0)
        result.nested_samples = pd.DataFrame(dict(x=np.arange(200.0), log_weights=log_w))
        result.posterior = pd.DataFrame(dict(x=np.arange(200.0)))  # as if every draw had been kept
        result.log_evidence = logsumexp(log_w) - np.log(200)
        result.meta_data = dict(dingo=dict(analysis_fingerprint={"data": "same"}, sampling_seed=scale))
        result.num_likelihood_evaluations = 200
        runs.append(result)
    kept_second = [np.mean(merge_results(runs, seed=s).posterior.index >= 200) for s in range(200)]
    # Second run's rows survive with probability max_2 w / max w; the first run's always.
    max_ratio = np.exp(runs[1].nested_samples["log_weights"].max() - runs[0].nested_samples["log_weights"].max())
    expected_fraction = 200 * max_ratio / (200 + 200 * max_ratio)
    assert np.mean(kept_second) == pytest.approx(expected_fraction, rel=0.05)


def test_merge_refuses_results_of_other_analyses(tmp_path):
    from bilby_dingo.importance_sampling.merge import MergeError, merge_results

    first = run_and_save(tmp_path, "a", "hdf5", num_samples=500)
    other = bilby.core.result.Result(label="b", sampler="dynesty", search_parameter_keys=["x", "y"])
    with pytest.raises(MergeError, match="sampled with 'dynesty', not dingo"):
        merge_results([first, other])


# --- bilby_dingo_merge refuses what it cannot pool exactly or read safely (issue 14, items 3 and 12) ------


def merge_cli(capsys, *args):
    from bilby_dingo.importance_sampling.merge import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1, error
    return error


class _Touch:
    """Unpickling this creates a marker file: what a malicious .pkl result could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import pathlib

        return pathlib.Path(self.path).touch, ()


def test_merge_refuses_a_pickle_before_reading_anything(tmp_path, capsys):
    import pickle

    run_and_save(tmp_path, "a", "hdf5", seed=1, num_samples=300)
    marker = tmp_path / "MARKER"
    (tmp_path / "b_result.pkl").write_bytes(pickle.dumps(_Touch(str(marker))))
    error = merge_cli(capsys, tmp_path / "a_result.hdf5", tmp_path / "b_result.pkl")
    assert "only .hdf5/.h5/.json results are read" in error
    assert not marker.exists()


@pytest.mark.parametrize("extension", ["json", "hdf5"])
def test_merge_refuses_a_result_naming_code(tmp_path, capsys, extension):
    import json

    import h5py

    run_and_save(tmp_path, "a", extension, seed=1, num_samples=300)
    marker = tmp_path / "MARKER"
    # bilby's reader would call subprocess.call(args=[...]) for this "prior".
    payload = {"__prior__": True, "__module__": "subprocess", "__name__": "call",
               "kwargs": {"args": ["touch", str(marker)]}}
    path = tmp_path / f"b_result.{extension}"
    shutil.copyfile(tmp_path / f"a_result.{extension}", path)
    if extension == "json":
        content = json.loads(path.read_text())
        content["priors"]["x"] = payload
        path.write_text(json.dumps(content))
    else:
        with h5py.File(path, "r+") as handle:
            priors = json.loads(handle["priors"][()])
            priors["x"] = payload
            del handle["priors"]
            handle["priors"] = json.dumps(priors)
    error = merge_cli(capsys, tmp_path / f"a_result.{extension}", path)
    assert "asks bilby's reader to call subprocess.call, which is not a bilby Prior" in error
    assert not marker.exists()


def test_merge_refuses_the_same_file_twice(tmp_path, capsys):
    run_and_save(tmp_path, "a", "hdf5", seed=1, num_samples=300)
    path = tmp_path / "a_result.hdf5"
    assert "is given twice" in merge_cli(capsys, path, os.path.join(str(tmp_path), ".", "a_result.hdf5"))


def test_merge_refuses_two_copies_of_one_run(tmp_path):
    from bilby_dingo.importance_sampling.merge import MergeError, merge_results

    runs = [run_and_save(tmp_path, label, "hdf5", seed=4, num_samples=300) for label in ("a", "b")]
    with pytest.raises(MergeError, match="are the same run .*sampling_seed 4 and 4, identical draws"):
        merge_results(runs)


def test_merge_refuses_runs_of_different_priors(tmp_path):
    from bilby_dingo.importance_sampling.merge import MergeError, merge_results

    narrower = uniform_priors()
    narrower["x"] = bilby.core.prior.Uniform(-5, 5, "x")
    first = run_and_save(tmp_path, "a", "hdf5", seed=1, num_samples=300)
    other = bilby.run_sampler(NormalisedGaussianLikelihood(MEAN, COV), narrower, sampler="dingo", outdir=str(tmp_path),
                              label="b", save="hdf5", proposal=student_t(), num_samples=300, sampling_seed=2,
                              diagnostic_plots=False)
    with pytest.raises(MergeError, match=r"runs of different analyses \(differing: priors\)"):
        merge_results([bilby.read_in_result(str(tmp_path / f"{label}_result.hdf5")) for label in "ab"])
    assert first.meta_data["dingo"]["analysis_fingerprint"]["data"] == other.meta_data["dingo"]["analysis_fingerprint"]["data"]


def test_merge_reports_a_missing_file_in_one_line(tmp_path, capsys):
    assert "does not exist" in merge_cli(capsys, tmp_path / "missing_result.hdf5", tmp_path / "also_missing.hdf5")


def test_merge_refuses_results_without_a_fingerprint(tmp_path):
    from bilby_dingo.importance_sampling.merge import MergeError, merge_results

    runs = [run_and_save(tmp_path, label, "hdf5", seed=seed, num_samples=300) for label, seed in (("a", 1), ("b", 2))]
    del runs[1].meta_data["dingo"]["analysis_fingerprint"]
    with pytest.raises(MergeError, match=r"\['b'\] carry no analysis fingerprint"):
        merge_results(runs)


# --- issue 14, item 8: result files that pesummary reads and that repeat their run -------------------------


def line_fit():
    """bilby's GaussianLikelihood for y = m x with known noise; a small analysis for pesummary."""
    x = np.linspace(0, 1, 20)
    y = 2 * x + np.random.default_rng(1).normal(0, 0.1, 20)
    likelihood = bilby.core.likelihood.GaussianLikelihood(x, y, lambda x, m: m * x, sigma=0.1)
    return likelihood, bilby.core.prior.PriorDict(dict(m=bilby.core.prior.Uniform(0, 4, "m")))


class GreekProposal(MultivariateStudentTProposal):
    """A user's proposal describing itself with non-ASCII symbols."""

    def __init__(self):
        super().__init__(["m"], [2.0], [[0.01]])

    def describe(self):
        return "Gaussian in m: μ = 2 ± 0.1σ × 1"


def run_line_fit(outdir, proposal, save="hdf5", **kwargs):
    likelihood, priors = line_fit()
    return bilby.run_sampler(likelihood, priors, sampler="dingo", proposal=proposal, num_samples=2000, outdir=str(outdir),
                             label="line", save=save, sampling_seed=1, diagnostic_plots=False, **kwargs)


def test_stored_keywords_are_as_given_and_repeat_the_run(tmp_path):
    result = run_line_fit(tmp_path / "first", "prior")
    loaded = bilby.read_in_result(str(tmp_path / "first" / "line_result.hdf5"))
    assert loaded.sampler_kwargs["proposal"] == "prior"  # was the description "bilby prior over ['m']"
    assert "bilby prior over ['m']" in loaded.meta_data["dingo"]["proposal"]
    likelihood, priors = line_fit()
    again = bilby.run_sampler(likelihood, priors, sampler="dingo", outdir=str(tmp_path / "again"), label="line",
                              save=False, **loaded.sampler_kwargs)
    assert again.log_evidence == result.log_evidence


def test_stored_metadata_is_ascii(tmp_path):
    import json

    result = run_line_fit(tmp_path, GreekProposal())
    assert result.sampler_kwargs["proposal"] == "GreekProposal: Gaussian in m: mu = 2 +- 0.1sigma x 1"
    assert "Gaussian in m: mu = 2 +- 0.1sigma x 1" in result.meta_data["dingo"]["proposal"]
    for stored in (result.sampler_kwargs, result.meta_data["dingo"]):
        json.dumps(stored, cls=bilby.core.utils.BilbyJsonEncoder).encode("ascii")


@pytest.mark.parametrize("proposal", ["prior", GreekProposal()], ids=["prior", "non-ascii-description"])
def test_pesummary_metafile_carries_efficiency_and_n_eff(tmp_path, proposal):
    pytest.importorskip("pesummary", reason="pesummary is a test extra: pip install -e .[test]")
    import h5py
    from pesummary.io import read

    result = run_line_fit(tmp_path, proposal)
    (tmp_path / "pesummary").mkdir()
    # The metafile writer summarypages uses; its hdf5 strings are ASCII (a '±' raised UnicodeEncodeError).
    read(str(tmp_path / "line_result.hdf5"), package="core", disable_prior=True).write(
        file_format="pesummary", outdir=str(tmp_path / "pesummary"), filename="posterior_samples.h5")
    with h5py.File(tmp_path / "pesummary" / "posterior_samples.h5", "r") as metafile:
        (label,) = [key for key in metafile if key not in ("history", "version")]
        dingo = metafile[label]["meta_data"]["other"]["dingo"]
        assert dingo["n_eff"][0] == pytest.approx(result.meta_data["dingo"]["n_eff"])
        assert dingo["sample_efficiency"][0] == pytest.approx(result.meta_data["dingo"]["sample_efficiency"])


# --- issue 14, item 14: hdf5 where the user chose no format; the checkpoint removed once the result is written


def test_result_is_hdf5_by_default_and_the_checkpoint_goes_once_it_is_written(tmp_path):
    # save=True is bilby's default (run_sampler writes json for it); the quickstart left a 24 MB checkpoint.
    result = run_line_fit(tmp_path, "prior", save=True)
    assert sorted(os.listdir(tmp_path)) == ["line_result.hdf5"]
    loaded = bilby.read_in_result(str(tmp_path / "line_result.hdf5"))
    assert loaded.log_evidence == result.log_evidence and type(loaded) is bilby.core.result.Result


@pytest.mark.parametrize("save, written", [("json", "line_result.json"), ("pkl", "line_result.pkl")])
def test_an_explicit_result_format_is_kept(tmp_path, save, written):
    run_line_fit(tmp_path, "prior", save=save)
    assert sorted(os.listdir(tmp_path)) == [written]


def test_keep_checkpoint_keeps_it_and_save_false_writes_nothing_to_remove_it_after(tmp_path):
    run_line_fit(tmp_path / "kept", "prior", save=True, keep_checkpoint=True)
    assert (tmp_path / "kept" / "dingo_line" / "line_checkpoint.npz").exists()
    assert (tmp_path / "kept" / "dingo_line" / "line_refinement.npz").exists()
    run_line_fit(tmp_path / "unsaved", "prior", save=False)
    assert os.listdir(tmp_path / "unsaved") == ["dingo_line"]  # no result file: the draws stay


def test_a_dingo_result_copies_and_pickles_as_bilbys_own_class(tmp_path):
    import copy
    import pickle

    result = run_line_fit(tmp_path, "prior", save=False, result_class=bilby.gw.result.CBCResult)
    for duplicate in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert type(duplicate) is bilby.gw.result.CBCResult
        assert duplicate.log_evidence == result.log_evidence
    result.save_to_file(extension="hdf5", outdir=str(tmp_path / "file"))
    assert type(bilby.read_in_result(str(tmp_path / "file" / "line_result.hdf5"))) is bilby.gw.result.CBCResult
