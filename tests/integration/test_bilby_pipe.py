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


def test_bilby_pipe_local_run_with_the_network(masses_model, tmp_path):
    """The shipped example ini, pointed at the session's model (same settings, O4 noise, d = 2000 Mpc)."""
    import numpy as np

    from bilby_dingo.simulation.noise import BILBY_NOISE_CURVES

    asd = np.loadtxt(os.path.join(BILBY_NOISE_CURVES, "aLIGO_O4_high_asd.txt"))
    psd_file = tmp_path / "O4_psd.txt"
    np.savetxt(psd_file, np.column_stack([asd[:, 0], asd[:, 1] ** 2]))
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "bilby_pipe_dingo.ini")
    text = open(example).read()
    text = text.replace("outdir = outdir_bilby_pipe_dingo", f"outdir = {tmp_path / 'out'}")
    text = text.replace("aLIGO_mid_psd.txt", str(psd_file))
    text = text.replace("outdir_two_masses/two_masses_model.pt", masses_model)
    text = text.replace("luminosity_distance: 1200.0", "luminosity_distance: 2000.0")
    ini = tmp_path / "network.ini"
    ini.write_text(text)
    subprocess.run([BILBY_PIPE, str(ini)], check=True, capture_output=True, cwd=tmp_path)
    (final,) = (tmp_path / "out" / "final_result").glob("*_result.hdf5")
    result = bilby.read_in_result(str(final))
    meta = result.meta_data["dingo"]
    assert "bilby_dingo network" in meta["proposal"]
    assert meta["n_eff"] >= 2000 and meta["sample_efficiency"] > 0.01
    assert result.posterior["chirp_mass"].between(29, 31).all()
    assert {"mass_1", "mass_2", "H1_optimal_snr"} <= set(result.posterior.columns)
    assert len(list((tmp_path / "out" / "result").glob("*_dingo_corner.png"))) == 1
