"""bilby_dingo_pp: many injections with one loaded model, P-P plots for the network and after IS."""

import json

import pytest

from bilby_dingo.validation.pp import main, run_pp

# The P-P machinery, not refinement, is under test here: plain importance sampling (refinement's rounds of
# 5,000 draws would cost more likelihood calls than the few hundred draws each injection is analysed with).
PLAIN = dict(sampler_kwargs=dict(refine=False))


def test_pp_over_a_few_injections(masses_model, tmp_path):
    summary = run_pp(masses_model, **PLAIN, num_injections=3, outdir=str(tmp_path), num_samples=1500, seed=2)
    for key in ["network_combined_pvalue", "importance_sampled_combined_pvalue"]:
        assert 0 <= summary[key] <= 1
    assert set(summary["importance_sampled_pvalues"]) == {"chirp_mass", "mass_ratio"}
    assert 0 < summary["sample_efficiency_worst"] <= summary["sample_efficiency_median"] <= 1
    for name in ["pp_network.png", "pp_importance_sampled.png", "pp_summary.json", "pp_injections.csv"]:
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "pp_summary.json").read_text())["num_injections"] == 3
    assert len((tmp_path / "pp_injections.csv").read_text().strip().splitlines()) == 4
    assert summary["resumed_injections"] == 0
    assert not list(tmp_path.glob("dingo_injection_*")), "each injection's checkpoint files must go once recorded"

    # A run stopped after two injections resumes with the third, exactly as if it had not stopped.
    first = (tmp_path / "pp_injections.csv").read_text()
    (tmp_path / "injections" / "injection_2.json").unlink()
    partial = run_pp(masses_model, **PLAIN, num_injections=3, outdir=str(tmp_path), num_samples=1500, seed=2,
                     recorded_only=True)
    assert (partial["injections_summarised"], partial["num_injections"], partial["num_injections_planned"]) \
        == ([0, 1], 2, 3)
    assert not (tmp_path / "injections" / "injection_2.json").exists()  # nothing analysed
    resumed = run_pp(masses_model, **PLAIN, num_injections=3, outdir=str(tmp_path), num_samples=1500, seed=2)
    assert resumed["resumed_injections"] == 2
    for key in ["importance_sampled_pvalues", "network_pvalues", "sample_efficiency_worst"]:
        assert resumed[key] == summary[key]
    drop_time = [",".join(line.split(",")[:9]) for line in first.splitlines()]
    assert [",".join(line.split(",")[:9]) for line in (tmp_path / "pp_injections.csv").read_text().splitlines()] \
        == drop_time

    # A share from injection 2, in another process's outdir, replays 0 and 1 and records exactly injection 2.
    share = tmp_path / "share"
    assert run_pp(masses_model, **PLAIN, num_injections=3, outdir=str(share), num_samples=1500, seed=2,
                  first_injection=2) is None
    assert sorted(path.name for path in (share / "injections").iterdir()) == ["injection_2.json"]
    shared, alone = (json.loads((folder / "injections" / "injection_2.json").read_text()) for folder in (share, tmp_path))
    assert shared["random_state_after"] == alone["random_state_after"]
    for record in (shared, alone):
        record["row"].pop("wall_time_s")
    assert shared == alone

    # A share 0-0 into the same outdir stops at its last injection: it does not go on into 1 (nor 2's range).
    assert run_pp(masses_model, **PLAIN, num_injections=3, outdir=str(share), num_samples=1500, seed=2,
                  last_injection=0) is None
    assert sorted(path.name for path in (share / "injections").iterdir()) == ["injection_0.json", "injection_2.json"]
    first_share = json.loads((share / "injections" / "injection_0.json").read_text())
    assert first_share["random_state_after"] == json.loads(
        (tmp_path / "injections" / "injection_0.json").read_text())["random_state_after"]


def test_pp_refuses_to_resume_records_made_with_other_settings(masses_model, tmp_path):
    import pytest

    run_pp(masses_model, **PLAIN, num_injections=2, outdir=str(tmp_path), num_samples=300, seed=2)
    with pytest.raises(ValueError, match="other settings.*--no-resume"):
        run_pp(masses_model, **PLAIN, num_injections=2, outdir=str(tmp_path), num_samples=400, seed=2)
    assert run_pp(masses_model, **PLAIN, num_injections=2, outdir=str(tmp_path), num_samples=400, seed=2,
                  resume=False)["resumed_injections"] == 0


def test_efficiency_survey_draws_until_the_target_n_eff(masses_model, tmp_path):
    import pandas as pd

    summary = run_pp(masses_model, **PLAIN, num_injections=2, outdir=str(tmp_path), seed=3, target_n_eff=300,
                     max_samples=20_000, num_samples=100)  # num_samples is ignored with a target
    table = pd.read_csv(tmp_path / "pp_injections.csv")
    assert (table["n_eff"] >= 300).all() and summary["fraction_reaching_target_n_eff"] == 1.0
    assert summary["n_eff_worst"] == table["n_eff"].min()
    assert (table["network_optimal_snr"] > 0).all() and (table["likelihood_calls"] > 0).all()
    assert {"injected_chirp_mass", "wall_time_s"} <= set(table.columns)


def test_pp_cli_rejects_too_few_injections(masses_model, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main([masses_model, "--num-injections", "1"])
    assert "--num-injections must be at least 2" in capsys.readouterr().err


def test_pp_cli_rejects_a_share_that_ends_before_it_starts(masses_model, capsys):
    with pytest.raises(SystemExit):
        main([masses_model, "--num-injections", "4", "--first-injection", "3", "--last-injection", "1"])
    assert "--first-injection 3 and --last-injection 1 must satisfy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([masses_model, "--num-injections", "4", "--first-injection", "4"])
    assert "--last-injection 3 (its default: --num-injections - 1)" in capsys.readouterr().err


def test_pp_cli_passes_the_share_to_run_pp(masses_model, monkeypatch):
    import bilby_dingo.validation.pp as pp

    received = {}
    monkeypatch.setattr(pp, "run_pp", lambda *args, **kwargs: received.update(kwargs))
    main([masses_model, "--num-injections", "6", "--first-injection", "2", "--last-injection", "4"])
    assert (received["first_injection"], received["last_injection"]) == (2, 4)


def test_pp_cli_no_refine_records_plain_importance_sampling(masses_model, tmp_path, capsys):
    main([masses_model, "--num-injections", "2", "--num-samples", "300", "--seed", "2", "--no-refine",
          "--outdir", str(tmp_path)])
    record = json.loads((tmp_path / "injections" / "injection_1.json").read_text())
    assert record["settings"]["sampler_kwargs"] == {"refine": False}
    assert 0 < record["row"]["likelihood_calls"] <= 300  # the network's draws only (no refinement rounds)


def test_pp_with_phase_left_to_bilbys_marginalisation(trained_tiny_model, tmp_path):
    _, model = trained_tiny_model
    summary = run_pp(model, **PLAIN, num_injections=2, outdir=str(tmp_path), num_samples=1000, seed=1, marginalise=["phase"])
    assert summary["marginalised"] == ["phase"]
    assert set(summary["importance_sampled_pvalues"]) == {"chirp_mass", "mass_ratio", "luminosity_distance",
                                                          "geocent_time"}


def test_pp_refuses_an_unknown_marginalisation(masses_model, tmp_path):
    import pytest

    with pytest.raises(ValueError, match=r"Cannot marginalise \['time'\]"):
        run_pp(masses_model, **PLAIN, num_injections=2, outdir=str(tmp_path), num_samples=100, marginalise=["time"])


@pytest.mark.slow  # refined analyses from the command line: ~1 min on 2 shared cores
def test_pp_command_line_with_a_prior_file_and_phase_marginalisation(trained_tiny_model, tmp_path, capsys):
    """bilby_dingo_pp --prior-file draws the injections from the given prior (here a narrower chirp mass than
    the model's) and --marginalise phase leaves phase to bilby's likelihood."""
    import pandas as pd

    _, model = trained_tiny_model
    prior_file = tmp_path / "narrow.prior"
    prior_file.write_text("\n".join([
        "chirp_mass = Uniform(name='chirp_mass', minimum=28, maximum=30)",
        "mass_ratio = Uniform(name='mass_ratio', minimum=0.5, maximum=1)",
        "chi_1 = 0", "chi_2 = 0", "theta_jn = Sine(name='theta_jn')",
        "phase = Uniform(name='phase', minimum=0, maximum=6.283185307179586, boundary='periodic')",
        "ra = Uniform(name='ra', minimum=0, maximum=6.283185307179586, boundary='periodic')",
        "dec = Cosine(name='dec')", "psi = Uniform(name='psi', minimum=0, maximum=3.141592653589793, boundary='periodic')",
        "luminosity_distance = PowerLaw(name='luminosity_distance', alpha=2, minimum=200, maximum=1500)", ""]))
    outdir = tmp_path / "pp"
    assert main([model, "--num-injections", "2", "--num-samples", "500", "--seed", "1", "--outdir", str(outdir),
                 "--prior-file", str(prior_file), "--marginalise", "phase"]) == 0
    summary = json.loads((outdir / "pp_summary.json").read_text())
    assert json.loads(capsys.readouterr().out)["num_injections"] == 2
    assert summary["marginalised"] == ["phase"] and summary["prior_file"] == str(prior_file)
    assert "phase" not in summary["importance_sampled_pvalues"]
    table = pd.read_csv(outdir / "pp_injections.csv")
    assert table["injected_chirp_mass"].between(28, 30).all()


def test_survey_injections_lie_in_their_snr_band_and_repeat_for_every_model(masses_model):
    from bilby_dingo.models import training_priors
    from bilby_dingo.network.model_file import read_model_file
    from bilby_dingo.validation.pp import simulate_event_in_snr_band

    metadata = read_model_file(masses_model)["metadata"]
    priors = training_priors(metadata)
    first = simulate_event_in_snr_band(metadata, priors, 3, 0, (5, 200))
    again = simulate_event_in_snr_band(metadata, priors, 3, 0, (5, 200))
    assert 5 <= first[4] <= 200 and first[4] == again[4] and first[2] == again[2]
    assert first[3] == metadata["psd_family"]["entries"][3 % len(metadata["psd_family"]["entries"])]
    assert first[2]["geocent_time"] == pytest.approx(metadata["reference_time"] + 3 * 86400.0, abs=0.2)
    with pytest.raises(ValueError, match=r"No injection of 2 drawn from the prior has a network SNR in \[10000, 20000\]"):
        simulate_event_in_snr_band(metadata, priors, 3, 0, (1e4, 2e4), max_tries=2)
