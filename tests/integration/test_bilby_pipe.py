"""bilby_pipe accepts ``sampler = dingo`` and runs it end to end offline (--local, Gaussian noise)."""

import os
import shutil
import subprocess
import sys

import bilby
import numpy as np
import pytest

BILBY_PIPE = shutil.which("bilby_pipe", path=os.path.dirname(sys.executable)) or "bilby_pipe"
BILBY_DINGO_MERGE = shutil.which("bilby_dingo_merge", path=os.path.dirname(sys.executable)) or "bilby_dingo_merge"

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
sampler-kwargs = {{proposal: prior, num-samples: 2e3, target-n-eff: None, batch-size: 1000}}
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


@pytest.mark.slow  # bilby_pipe subprocesses: 1-2.5 min on 2 shared cores
def test_bilby_pipe_local_run_with_n_parallel_produces_merged_dingo_results(ini_file, tmp_path):
    """n-parallel = 2: two analyses (seeds 4 and 5), bilby_pipe's merged result, and the exact pooled one."""
    from scipy.special import logsumexp

    ini_file.write_text(ini_file.read_text() + "n-parallel = 2\n")
    subprocess.run([BILBY_PIPE, str(ini_file), "--local"], check=True, capture_output=True, cwd=tmp_path)
    parts = sorted((tmp_path / "out" / "result").glob("*_par?_result.hdf5"))
    results = [bilby.read_in_result(str(path)) for path in parts]
    assert [result.meta_data["dingo"]["sampling_seed"] for result in results] == [4, 5]
    for result in results:
        assert result.sampler == "dingo"
        assert result.meta_data["dingo"]["num_proposals"] == 2000
        assert result.sampler_kwargs["num_samples"] == 2000 and result.sampler_kwargs["target_n_eff"] is None
        # bilby's conversion function ran on the posterior (bilby built it, not the sampler).
        assert {"mass_1", "mass_2", "H1_optimal_snr"} <= set(result.posterior.columns)
    (final,) = (tmp_path / "out" / "final_result").glob("*_merge_result.hdf5")
    merged_by_bilby = bilby.read_in_result(str(final))
    pooled = np.concatenate([result.nested_samples["log_weights"].to_numpy() for result in results])
    noise = results[0].log_noise_evidence
    # Equal draws per run: bilby_pipe's average of the evidences is the pooled estimate.
    assert merged_by_bilby.log_evidence == pytest.approx(logsumexp(pooled) - np.log(4000) + noise, abs=1e-8)

    merged_path = tmp_path / "pooled" / "merged_result.hdf5"
    subprocess.run([BILBY_DINGO_MERGE, *map(str, parts), "--outdir", str(merged_path.parent), "--label", "merged"],
                   check=True, capture_output=True)
    merged = bilby.read_in_result(str(merged_path))
    assert merged.log_evidence == pytest.approx(merged_by_bilby.log_evidence, abs=1e-8)
    assert merged.meta_data["dingo"]["num_proposals"] == 4000 and len(merged.nested_samples) == 4000
    assert {"mass_1", "H1_optimal_snr"} <= set(merged.posterior.columns)


@pytest.mark.slow  # bilby_pipe subprocesses: 1-2.5 min on 2 shared cores
def test_bilby_pipe_local_run_with_the_network(masses_model, tmp_path):
    """The shipped example ini, pointed at the session's model (same settings, O4 noise, d = 2000 Mpc)."""
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


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def test_the_example_sends_the_model_with_each_cluster_job(tmp_path):
    """examples/bilby_pipe_dingo.ini without `local`: the analysis job's submit file transfers the model file
    (bilby_pipe writes the DAG and submit files; nothing is submitted or run)."""
    text = open(os.path.join(EXAMPLES, "bilby_pipe_dingo.ini")).read()
    assert "local = True\n" in text
    (tmp_path / "cluster.ini").write_text(text.replace("local = True\n", ""))
    subprocess.run([BILBY_PIPE, "cluster.ini"], check=True, capture_output=True, cwd=tmp_path)
    (submit,) = (tmp_path / "outdir_bilby_pipe_dingo" / "submit").glob("*_analysis_H1L1.submit")
    (line,) = [line for line in submit.read_text().splitlines() if line.startswith("transfer_input_files")]
    assert "outdir_two_masses/two_masses_model.pt" in line.split("=", 1)[1].strip().split(","), line


def test_a_transferred_model_is_found_in_the_working_directory(tmp_path, monkeypatch):
    from bilby_dingo.plugin import transferred_model_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.pt").write_bytes(b"")
    assert transferred_model_path("/home/someone/models/m.pt") == "m.pt"  # where HTCondor put it
    assert transferred_model_path("models/m.pt") == "m.pt"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.pt").write_bytes(b"")
    assert transferred_model_path("models/m.pt") == "models/m.pt"  # a path that exists is used as given
    assert transferred_model_path("/nowhere/other.pt") == "/nowhere/other.pt"  # its own error comes later


GWOSC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "gwosc")


@pytest.mark.slow  # the default model on GW170104 through bilby_pipe: ~5 min on 2 shared cores
@pytest.mark.skipif(not os.path.isdir(GWOSC), reason=f"the GWOSC data folder {GWOSC} is absent (CI keeps ../shared "
                                                     f"beside its clone)")
def test_bilby_pipe_analyses_gw170104_from_local_gwosc_files(tmp_path):
    """examples/GW170104.ini after examples/prepare_gwosc.py, shortened (2,000 draws, 500 GNPE chains × 10
    iterations): bilby_pipe reads the frame files and PSDs offline, the default model analyses the event, and
    bilby_pipe's interferometers are exactly those of the Python route (bilby_dingo.data.gwosc)."""
    from bilby_pipe.data_generation import DataDump

    from bilby_dingo.data import gwosc_interferometers

    subprocess.run([sys.executable, os.path.join(EXAMPLES, "prepare_gwosc.py"), GWOSC, "--trigger-time",
                    "1167559936.6", "--outdir", "GW170104_data"], check=True, capture_output=True, cwd=tmp_path)
    text = open(os.path.join(EXAMPLES, "GW170104.ini")).read()
    for old, new in [("outdir = outdir_GW170104", "outdir = out"), ("request-cpus = 2", "request-cpus = 1"),
                     ("sampler-kwargs = {target-n-eff: 2000, max-samples: 200000, batch-size: 10000}",
                      "sampler-kwargs = {num-samples: 2000, target-n-eff: None, batch-size: 2000, gnpe-chains: 500, "
                      "gnpe-iterations: 10, gnpe-guide-draws: 500}")]:
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "GW170104.ini").write_text(text)
    subprocess.run([BILBY_PIPE, "GW170104.ini", "--local"], check=True, capture_output=True, cwd=tmp_path)

    (final,) = (tmp_path / "out" / "final_result").glob("*_result.hdf5")
    result = bilby.read_in_result(str(final))
    meta = result.meta_data["dingo"]
    assert "default_bbh_model.pt" in meta["proposal"] and meta["num_proposals"] == 2000
    assert result.log_bayes_factor > 30  # GW170104 (network SNR 13): measured 69
    assert result.posterior["chirp_mass"].between(20, 30).all()
    assert {"chirp_mass_source", "luminosity_distance", "phase"} <= set(result.posterior.columns)

    (dump,) = (tmp_path / "out" / "data").glob("*_data_dump.pickle")
    pipe = DataDump.from_pickle(str(dump)).interferometers
    ours = gwosc_interferometers(GWOSC, 1167559936.6)
    for theirs, mine in zip(pipe, ours):
        assert theirs.name == mine.name and theirs.strain_data.start_time == mine.strain_data.start_time
        assert theirs.strain_data.roll_off == mine.strain_data.roll_off == 0.4
        np.testing.assert_array_equal(theirs.strain_data.time_domain_strain, mine.strain_data.time_domain_strain)
        band = mine.frequency_mask
        np.testing.assert_allclose(theirs.power_spectral_density_array[band], mine.power_spectral_density_array[band],
                                   rtol=1e-12)
