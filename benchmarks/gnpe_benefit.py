"""Sample efficiency with and without GNPE, for the same training budget and the same injections.

Two models are trained from one config that differs only in ``gnpe-time-kernel`` (same waveforms,
epochs, network and seed); then the same Gaussian-noise injections (time prior ±deltaT/2 around
the trigger, default ±0.1 s) are importance-sampled with each. Prints a table and the medians, and
writes ``OUTDIR/gnpe_benefit.json``.

    python benchmarks/gnpe_benefit.py --num-injections 20 --outdir outdir_gnpe_benefit
"""

import argparse
import json
import os
import shutil
import sys
import time

import bilby
import numpy as np

from bilby_dingo.models import training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.training.config import TrainingConfig
from bilby_dingo.training.trainer import Trainer
from bilby_dingo.validation.pp import simulate_event

INJECTION = dict(chi_1=0.0, chi_2=0.0, theta_jn=0.4, phase=1.3, ra=1.0, dec=0.3, psi=0.5, luminosity_distance=2000.0)
PRIOR = ("{chirp_mass: Uniform(name='chirp_mass', minimum=25, maximum=35), "
         "mass_ratio: Uniform(name='mass_ratio', minimum=0.5, maximum=1), "
         + ", ".join(f"{key}: {value}" for key, value in INJECTION.items()) + "}")


def config_values(args, gnpe):
    values = {
        "label": "gnpe" if gnpe else "plain", "detectors": "[H1, L1]", "duration": "4", "sampling-frequency": "256",
        "minimum-frequency": "20", "maximum-frequency": "100", "waveform-approximant": "IMRPhenomD",
        "prior-dict": PRIOR, "inference-parameters": "[chirp_mass, mass_ratio, geocent_time]",
        "deltaT": str(args.delta_t), "psd-family": "[aLIGO_O4_high]", "psd-scale-range": "[0.8, 1.25]",
        "num-waveforms": str(args.num_waveforms), "validation-fraction": "0.1", "svd-size": "16",
        "svd-num-waveforms": "200", "embedding-hidden": "64", "embedding-blocks": "1", "context-dim": "16",
        "flow-transforms": "3", "flow-hidden": "32", "epochs": str(args.epochs), "batch-size": "64",
        "learning-rate": "2e-3", "device": "cpu", "seed": "5",
    }
    if gnpe:
        values["gnpe-time-kernel"] = "0.001"
    return values


def train(args, gnpe):
    outdir = os.path.join(args.outdir, "gnpe" if gnpe else "plain")
    config = TrainingConfig.from_dict(config_values(args, gnpe))
    trainer = Trainer(config, outdir=outdir, resume=True)
    if gnpe:  # the same waveforms as the plain model: same fingerprint, copied rather than regenerated
        plain = os.path.join(args.outdir, "plain", "plain_waveforms.npz")
        if os.path.isfile(plain) and not os.path.isfile(trainer.paths["waveforms"]):
            os.makedirs(outdir, exist_ok=True)
            shutil.copy(plain, trainer.paths["waveforms"])
    start = time.perf_counter()
    trainer.prepare()
    trainer.train()
    return trainer.paths["model"], time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-injections", type=int, default=20)
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--num-waveforms", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--delta-t", type=float, default=0.2, help="time prior width (±deltaT/2)")
    parser.add_argument("--outdir", default="outdir_gnpe_benefit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bilby.core.utils.setup_logger(log_level="WARNING")

    models = {}
    for name, gnpe in (("plain", False), ("gnpe", True)):
        path, seconds = train(args, gnpe)
        models[name] = dict(path=path, training_time_s=seconds, loaded=load_model(path))
        print(f"{name}: trained in {seconds:.0f} s -> {path}", flush=True)

    metadata = models["plain"]["loaded"][1]
    priors = training_priors(metadata)
    rows = []
    for index in range(args.num_injections):
        row = dict(injection=index)
        for name, model in models.items():
            rng = np.random.default_rng([args.seed, index])  # the same injection and noise for both models
            trigger_time = metadata["reference_time"] + 3600.0 * index
            likelihood, analysis, injection = simulate_event(metadata, priors, rng, trigger_time, "aLIGO_O4_high")
            start = time.perf_counter()
            result = bilby.run_sampler(
                likelihood, analysis, sampler="dingo", model=model["path"], num_samples=args.num_samples,
                outdir=os.path.join(args.outdir, "runs"), label=f"{name}_{index}", save=False, resume=False,
                sampling_seed=args.seed + index, diagnostic_plots=False, soft_init=True)
            meta = result.meta_data["dingo"]
            row.update({f"{name}_efficiency": meta["sample_efficiency"], f"{name}_n_eff": meta["n_eff"],
                        f"{name}_log_evidence": result.log_evidence, f"{name}_log_evidence_err": result.log_evidence_err,
                        f"{name}_time_s": time.perf_counter() - start})
            row["time_offset_ms"] = 1e3 * (injection["geocent_time"] - trigger_time)
        rows.append(row)
        print(f"injection {index:2d} (Δt = {row['time_offset_ms']:+6.1f} ms): efficiency plain "
              f"{100 * row['plain_efficiency']:6.2f}%, GNPE {100 * row['gnpe_efficiency']:6.2f}%; "
              f"log Z {row['plain_log_evidence']:.3f} ± {row['plain_log_evidence_err']:.3f} vs "
              f"{row['gnpe_log_evidence']:.3f} ± {row['gnpe_log_evidence_err']:.3f}", flush=True)

    summary = dict(
        num_injections=args.num_injections, num_samples=args.num_samples, num_waveforms=args.num_waveforms,
        epochs=args.epochs, time_prior_half_width_s=args.delta_t / 2,
        training_time_s={name: model["training_time_s"] for name, model in models.items()},
        injections=rows,
    )
    for name in models:
        efficiencies = np.array([row[f"{name}_efficiency"] for row in rows])
        summary[f"{name}_efficiency_median"] = float(np.median(efficiencies))
        summary[f"{name}_efficiency_10th_percentile"] = float(np.percentile(efficiencies, 10))
        summary[f"{name}_efficiency_worst"] = float(efficiencies.min())
        summary[f"{name}_time_median_s"] = float(np.median([row[f"{name}_time_s"] for row in rows]))
    with open(os.path.join(args.outdir, "gnpe_benefit.json"), "w") as stream:
        json.dump(summary, stream, indent=2)
    print(f"median efficiency: plain {100 * summary['plain_efficiency_median']:.2f}%, "
          f"GNPE {100 * summary['gnpe_efficiency_median']:.2f}% "
          f"(10th percentile {100 * summary['plain_efficiency_10th_percentile']:.2f}% vs "
          f"{100 * summary['gnpe_efficiency_10th_percentile']:.2f}%; worst "
          f"{100 * summary['plain_efficiency_worst']:.2f}% vs {100 * summary['gnpe_efficiency_worst']:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
