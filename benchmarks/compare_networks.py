"""Compare trained networks on the same injections: the protocol for choosing a default model.

Injections in three bands of network optimal SNR (8-12, 12-20, 20-50 by default), each drawn from the
first model's analysis prior until its SNR lies in the band, in Gaussian noise from the PSD family
(cycling through it), analysed with distance and phase marginalised. Every model analyses every
injection with ``refine=False`` and the same number of draws, so the figures are the network's own:

- sample efficiency ε and n_eff of importance sampling with the network as the proposal;
- the network-only width ratio σ_q / σ_posterior per learned parameter (circular spread for periodic
  ones), σ_posterior from the importance-sampled draws of whichever model reached the larger n_eff on
  that injection (1 = as sharp as the posterior; > 1 too broad);
- the network-only credible level of the injected value (for a P-P test of q alone), and
- the training cost recorded in each model file.

    python benchmarks/compare_networks.py MODEL [MODEL ...] --per-band 20 --draws 8000 \
        --outdir outdir_compare_networks

Resumable: OUTDIR/compare_networks.json is rewritten after each injection, and injections already in it
are skipped. A summary (per band and model) is printed and stored in the same file.
"""

import argparse
import json
import os
import sys
import time

import bilby
import numpy as np
from scipy.stats import kstest

from bilby_dingo.models import default_distance_lookup_table, training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.training.trainer import training_chain
from bilby_dingo.utils import atomic_path, file_sha256
from bilby_dingo.validation.pp import MARGINALISABLE, simulate_event_in_snr_band

RELIABLE_N_EFF = 50  # below this, a posterior width from importance sampling is too noisy to compare with


def spread(values, weights, periodic_range=None):
    """Weighted standard deviation; for a periodic parameter the circular one, in its own units."""
    weights = weights / np.sum(weights)
    if periodic_range is None:
        mean = np.sum(weights * values)
        return float(np.sqrt(np.sum(weights * (values - mean) ** 2)))
    angle = 2 * np.pi * values / periodic_range
    resultant = np.hypot(np.sum(weights * np.cos(angle)), np.sum(weights * np.sin(angle)))
    return float(np.sqrt(-2 * np.log(max(resultant, 1e-300))) * periodic_range / (2 * np.pi))


def analyse(likelihood, analysis, injection, model, index, args, label):
    start = time.perf_counter()
    result = bilby.run_sampler(
        likelihood, analysis, sampler="dingo", model=model, refine=False, target_n_eff=args.draws,
        max_samples=args.draws, npool=args.npool, sampling_seed=args.seed + index, resume=False, save=False,
        gnpe_chains=args.gnpe_chains, gnpe_iterations=args.gnpe_iterations,
        outdir=os.path.join(args.outdir, f"injection_{index}"), label=label, injection_parameters=injection,
        diagnostic_plots=False)
    meta = result.meta_data["dingo"]
    return result.nested_samples, dict(sample_efficiency=meta["sample_efficiency"], n_eff=meta["n_eff"],
                                       num_draws=meta["num_proposals"], wall_time_s=time.perf_counter() - start,
                                       log_evidence=result.log_evidence, log_evidence_err=result.log_evidence_err)


def network_figures(draws, reference, injection, analysis, parameters):
    """Width ratio and network-only credible level of the injection, per parameter."""
    widths, levels = {}, {}
    equal = np.ones(len(draws))
    for key in parameters:
        prior = analysis[key]
        periodic = (prior.maximum - prior.minimum) if getattr(prior, "boundary", None) == "periodic" else None
        sigma_q = spread(draws[key].to_numpy(), equal, periodic)
        sigma_p = spread(reference[key].to_numpy(), reference["weights"].to_numpy(), periodic)
        widths[key] = sigma_q / sigma_p if sigma_p > 0 else float("nan")
        levels[key] = float(np.mean(draws[key].to_numpy() < injection[key]))
    return widths, levels


def summarise(rows, models, bands, parameters):
    summary = {}
    for band in bands:
        name = f"{band[0]:g}-{band[1]:g}"
        in_band = [row for row in rows if row["band"] == name]
        summary[name] = {}
        for model in models:
            records = [row["models"][model] for row in in_band]
            reliable = [row for row in in_band if row["reference_n_eff"] >= RELIABLE_N_EFF]
            summary[name][model] = dict(
                injections=len(records),
                median_efficiency=float(np.median([r["sample_efficiency"] for r in records])) if records else None,
                median_n_eff=float(np.median([r["n_eff"] for r in records])) if records else None,
                median_width_ratio={key: float(np.median([row["models"][model]["width_ratio"][key] for row in reliable]))
                                    for key in parameters} if reliable else None,
                injections_with_reliable_widths=len(reliable))
    pp = {}
    for model in models:
        pp[model] = {key: float(kstest([row["models"][model]["credible_level"][key] for row in rows], "uniform").pvalue)
                     for key in parameters} if len(rows) >= 5 else None
    return dict(bands=summary, network_only_pp_pvalues=pp)


def training_cost(metadata):
    """Per training stage, newest first (a model continued from another lists that one's stages too)."""
    return [dict(epochs=training.get("epochs_trained"), num_waveforms=training["config"].get("num_waveforms"),
                 batch_size=training["config"].get("batch_size"), training_time_s=training.get("training_time_s"),
                 hardware=training.get("hardware", training.get("device")),
                 training_distance_prior=training["config"].get("training_distance_prior"))
            for training in training_chain(metadata["training"])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--per-band", type=int, default=20)
    parser.add_argument("--bands", type=float, nargs="+", default=[8, 12, 20, 50],
                        help="Band edges in network optimal SNR.")
    parser.add_argument("--draws", type=int, default=8000)
    parser.add_argument("--npool", type=int, default=1)
    # GNPE's set-up (chains × iterations network passes) dominates a short run on a CPU; the same smaller
    # set-up serves every model, so the comparison stays fair (the figures are below the defaults').
    parser.add_argument("--gnpe-chains", type=int, default=1000)
    parser.add_argument("--gnpe-iterations", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", default="outdir_compare_networks")
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")
    os.makedirs(args.outdir, exist_ok=True)
    metadata = {model: load_model(model)[1] for model in args.models}
    hashes = {model: file_sha256(model) for model in args.models}
    first = metadata[args.models[0]]
    priors = training_priors(first)
    parameters = [key for key in first["inference_parameters"] if key != "geocent_time"]
    lookup_table = default_distance_lookup_table(os.path.join(args.outdir, "distance_marginalization_lookup.npz"))
    bands = list(zip(args.bands[:-1], args.bands[1:]))
    path = os.path.join(args.outdir, "compare_networks.json")
    rows = json.load(open(path))["injections"] if os.path.isfile(path) else []
    done = {row["injection"] for row in rows}
    for band_number, band in enumerate(bands):
        for position in range(args.per_band):
            index = 1000 * band_number + position
            if index in done:
                continue
            # Each analysis reads its model file again: one replaced mid-run (a new default model copied in)
            # would silently compare another network.
            changed = [model for model in args.models if file_sha256(model) != hashes[model]]
            if changed:
                raise SystemExit(f"{changed} changed since this comparison started: copy each model to a path of its "
                                 f"own and rerun (finished injections are kept in {path}).")
            likelihood, analysis, injection, psd_entry, snr = simulate_event_in_snr_band(
                first, priors, index, args.seed, band, list(MARGINALISABLE), lookup_table, max_tries=5000)
            outcomes = {model: analyse(likelihood, analysis, injection, model, index, args, f"model{number}")
                        for number, model in enumerate(args.models)}
            reference_model = max(outcomes, key=lambda model: outcomes[model][1]["n_eff"])
            reference = outcomes[reference_model][0]
            row = dict(injection=index, band=f"{band[0]:g}-{band[1]:g}", psd=psd_entry, network_optimal_snr=snr,
                       reference_model=reference_model, reference_n_eff=outcomes[reference_model][1]["n_eff"],
                       models={})
            for model, (draws, record) in outcomes.items():
                record["width_ratio"], record["credible_level"] = network_figures(draws, reference, injection,
                                                                                  analysis, parameters)
                row["models"][model] = record
            rows.append(row)
            print(f"injection {index} (SNR {snr:.1f}, {psd_entry}): " + "; ".join(
                f"{os.path.basename(model)} ε {100 * row['models'][model]['sample_efficiency']:.3f}% "
                f"σ_q/σ_p(Mc) {row['models'][model]['width_ratio']['chirp_mass']:.2f}" for model in args.models),
                flush=True)
            write(path, args, metadata, rows, bands, parameters)
    summary = write(path, args, metadata, rows, bands, parameters)
    print(json.dumps(summary, indent=1))
    return 0


def write(path, args, metadata, rows, bands, parameters):
    summary = summarise(rows, args.models, bands, parameters)
    with atomic_path(path, suffix=".json") as temporary, open(temporary, "w") as stream:
        json.dump(dict(models=args.models, training={model: training_cost(meta) for model, meta in metadata.items()},
                       draws=args.draws, seed=args.seed, gnpe_chains=args.gnpe_chains,
                       gnpe_iterations=args.gnpe_iterations, bands=bands, summary=summary, injections=rows),
                  stream, indent=1)
    return summary


if __name__ == "__main__":
    sys.exit(main())
