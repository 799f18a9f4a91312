"""Screen training levers: networks' held-out log q(θ | d) on one fixed simulated set, by SNR band.

    python benchmarks/network_loss_by_snr.py BASELINE_MODEL MODEL [MODEL ...] --num-waveforms 60000 \
        --out network_loss_by_snr.json [--config bilby_dingo/models/default_bbh.ini] [--seed 11]

The set: ``--num-waveforms`` fresh waveforms (``--seed``; apart from every training seed used so far)
with θ from the config's *analysis* prior (its training-distance-prior is dropped), Gaussian noise from
its PSD family, GNPE proxies from its kernel. Every model sees the same draws, so the paired difference
of mean log q from the baseline (positive: closer to the posterior in mean KL; see
bilby_dingo.training.evaluation) has a small standard error. The protocol that decides what ships stays
benchmarks/compare_networks.py; this screen says which levers are worth a long run.
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from bilby_dingo.models import DEFAULT_MODEL_CONFIG
from bilby_dingo.training.config import TrainingConfig, read_ini
from bilby_dingo.training.evaluation import (
    evaluation_batches,
    held_out_log_densities,
    load_models,
    paired_band_summary,
)
from bilby_dingo.training.trainer import Trainer
from bilby_dingo.utils import atomic_path, file_sha256


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model files; the first is the baseline of the differences")
    parser.add_argument("--config", default=DEFAULT_MODEL_CONFIG, help="the config the models were trained with")
    parser.add_argument("--num-waveforms", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bands", type=float, nargs="+", default=[0, 8, 12, 20, 50, 1000])
    parser.add_argument("--outdir", default="outdir_network_loss_by_snr", help="keeps the set's waveforms")
    parser.add_argument("--out", default=None, help="summary JSON (default OUTDIR/network_loss_by_snr.json)")
    args = parser.parse_args()
    start = time.perf_counter()

    values = read_ini(args.config)
    values.update({"label": "evaluation_set", "num-waveforms": str(args.num_waveforms), "seed": str(args.seed),
                   "initial-model": args.models[0], "device": "cpu"})
    values.pop("training-distance-prior", None)
    os.makedirs(args.outdir, exist_ok=True)
    # The trainer's own set-up builds the set exactly as training data are built, with the analysis prior.
    trainer = Trainer(TrainingConfig.from_dict(values), outdir=args.outdir)
    trainer.prepare()
    models = load_models(args.models, trainer.metadata())
    indices = np.arange(args.num_waveforms)  # all of them: the trainer's validation split means nothing here
    log_densities = held_out_log_densities(models, evaluation_batches(trainer.simulator, indices, args.seed))
    summary = paired_band_summary(log_densities, args.models, args.bands)

    out = dict(models={path: file_sha256(path) for path in args.models}, config=os.path.abspath(args.config),
               num_waveforms=args.num_waveforms, seed=args.seed, bands=args.bands, summary=summary,
               torch_threads=torch.get_num_threads(), seconds=time.perf_counter() - start)
    path = args.out or os.path.join(args.outdir, "network_loss_by_snr.json")
    with atomic_path(path, suffix=".json") as temporary:
        with open(temporary, "w") as stream:
            json.dump(out, stream, indent=1)
    for row in summary:
        text = [f"SNR {row['band']:>9} ({row['count']:>6}):"]
        for name in args.models:
            entry = row[name]
            if entry["mean_log_q"] is None:
                continue
            text.append(f"{os.path.basename(name)} {entry['mean_log_q']:8.3f}")
            if "difference" in entry:
                text.append(f"(Δ {entry['difference']:+.3f} ± {entry['difference_error']:.3f})")
        print(" ".join(text))
    print(f"{out['seconds']:.0f} s; summary in {path}")


if __name__ == "__main__":
    main()
