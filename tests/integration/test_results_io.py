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

from tests.integration.test_sampler import COV, MEAN, student_t, uniform_priors
from tests.models import NormalisedGaussianLikelihood

# The console script installed beside this interpreter (bilby's CLI module has no __main__ guard).
BILBY_RESULT = shutil.which("bilby_result", path=os.path.dirname(sys.executable)) or "bilby_result"


def run_and_save(outdir, label, extension, seed=3, num_samples=3000):
    return bilby.run_sampler(
        NormalisedGaussianLikelihood(MEAN, COV), uniform_priors(), sampler="dingo", outdir=str(outdir),
        label=label, save=extension, proposal=student_t(), num_samples=num_samples, sampling_seed=seed,
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
        assert loaded.meta_data["dingo"][key] == value, key


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
