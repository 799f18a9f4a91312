"""bilby_pipe accepts ``sampler = dingo`` and runs it end to end offline (--local, Gaussian noise)."""

import os
import shutil
import subprocess
import sys

import bilby
import pytest

BILBY_PIPE = shutil.which("bilby_pipe", path=os.path.dirname(sys.executable)) or "bilby_pipe"

INI = """
label = pipe
outdir = {outdir}
accounting = ligo.dev.o4.cbc.pe.bilby
detectors = [H1, L1]
duration = 4
sampling-frequency = 1024
minimum-frequency = 20
trigger-time = 1126259462.4
gaussian-noise = True
generation-seed = 10
injection = True
injection-dict = {{chirp_mass: 30, mass_ratio: 0.8, a_1: 0, a_2: 0, tilt_1: 0, tilt_2: 0, phi_12: 0, phi_jl: 0, luminosity_distance: 800, theta_jn: 0.5, psi: 0.1, phase: 1.0, geocent_time: 1126259462.4, ra: 1.0, dec: 0.3}}
prior-dict = {{chirp_mass: Uniform(28, 32, name='chirp_mass'), mass_ratio: Uniform(0.5, 1, name='mass_ratio'), a_1: 0, a_2: 0, tilt_1: 0, tilt_2: 0, phi_12: 0, phi_jl: 0, luminosity_distance: 800, theta_jn: 0.5, psi: 0.1, phase: 1.0, geocent_time: 1126259462.4, ra: 1.0, dec: 0.3}}
waveform-approximant = IMRPhenomD
sampler = dingo
sampling-seed = 4
sampler-kwargs = {{num-samples: 2e3, target-n-eff: None, batch-size: 1000}}
"""


@pytest.fixture
def ini_file(tmp_path):
    path = tmp_path / "dingo.ini"
    path.write_text(INI.format(outdir=tmp_path / "out"))
    return path


def test_bilby_pipe_builds_a_dingo_workflow(ini_file, tmp_path):
    subprocess.run([BILBY_PIPE, str(ini_file)], check=True, capture_output=True, cwd=tmp_path)
    complete = (tmp_path / "out" / "pipe_config_complete.ini").read_text()
    assert "sampler=dingo" in complete


def test_bilby_pipe_local_run_produces_a_dingo_result(ini_file, tmp_path):
    subprocess.run([BILBY_PIPE, str(ini_file), "--local"], check=True, capture_output=True, cwd=tmp_path)
    (final,) = (tmp_path / "out" / "final_result").glob("*_result.hdf5")
    result = bilby.read_in_result(str(final))
    assert result.sampler == "dingo"
    meta = result.meta_data["dingo"]
    assert meta["num_proposals"] == 2000 and meta["sampling_seed"] == 4
    assert result.sampler_kwargs["num_samples"] == 2000 and result.sampler_kwargs["target_n_eff"] is None
    # bilby's conversion function ran on the posterior (bilby built it, not the sampler).
    assert {"mass_1", "mass_2", "H1_optimal_snr"} <= set(result.posterior.columns)
