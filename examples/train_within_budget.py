"""Train a model within a wall-clock budget, e.g. a GPU node lent for a fixed time.

    python examples/train_within_budget.py CONFIG --outdir DIR --budget SECONDS [--set key=value ...]

The waveforms are generated first (``num-processes`` workers); then the training throughput is measured
on a copy of the model, and the number of epochs is set so that training ends inside the budget, with
the cosine schedule annealed over exactly those epochs. Should an epoch run slower than measured (a
shared GPU), training stops early at an epoch boundary; the model file always holds the best epoch so
far. A summary (throughput, epochs, times, hardware) is written to OUTDIR/LABEL_budget.json.
"""

import argparse
import json
import math
import os
import time

import torch

from bilby_dingo.training.config import TrainingConfig, read_ini
from bilby_dingo.training.trainer import Trainer, hardware_description
from bilby_dingo.utils import atomic_path

# Seconds kept after the last epoch for writing files and copying results off the machine.
RESERVE_SECONDS = 25.0


def parse_overrides(pairs):
    values = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set takes key=value, got '{pair}'.")
        values[key.strip()] = value.strip()
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--budget", type=float, required=True, help="Wall-clock seconds from start to the end.")
    parser.add_argument("--set", nargs="*", default=[], help="Config overrides, key=value.")
    parser.add_argument("--probe-batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (several jobs share a node).")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    # TensorFloat-32 matrix products on Ampere/Hopper GPUs: several times faster, ample for training.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    values = read_ini(args.config)
    values.update(parse_overrides(args.set))
    config = TrainingConfig.from_dict(values)
    os.makedirs(args.outdir, exist_ok=True)
    trainer = Trainer(config, outdir=args.outdir)
    trainer.prepare()
    prepared = time.perf_counter() - start

    rate = trainer.measure_throughput(args.probe_batches)
    # An epoch also runs the validation set once (forward only: count it as a third of a training sample).
    epoch_seconds = (len(trainer.train_indices) + len(trainer.validation_indices) / 3) / rate
    available = args.budget - (time.perf_counter() - start) - RESERVE_SECONDS
    epochs = max(1, math.floor(available / (1.05 * epoch_seconds)))
    trainer.set_epochs(epochs)
    print(f"prepared in {prepared:.0f} s; {rate:.0f} samples/s measured; {epochs} epochs of ~{epoch_seconds:.1f} s "
          f"fit the {available:.0f} s left", flush=True)

    stopped_early = False
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        trainer.train(until_epoch=epoch)
        last_epoch = time.perf_counter() - tick
        left = args.budget - (time.perf_counter() - start) - RESERVE_SECONDS
        if epoch < epochs and left < 1.1 * last_epoch:
            stopped_early = True
            print(f"stopping after epoch {epoch} of {epochs}: {left:.0f} s left, an epoch takes {last_epoch:.0f} s",
                  flush=True)
            break

    summary = dict(config=args.config, overrides=parse_overrides(args.set), budget_s=args.budget,
                   preparation_s=prepared, waveform_generation_s=trainer.waveform_generation_time,
                   measured_samples_per_s=rate, epochs_planned=epochs, epochs_trained=len(trainer.history),
                   stopped_early=stopped_early, best_validation_loss=float(trainer.best_validation_loss),
                   wall_s=time.perf_counter() - start, hardware=hardware_description(trainer.device),
                   torch=torch.__version__)
    path = os.path.join(args.outdir, f"{config.label}_budget.json")
    with atomic_path(path, suffix=".json") as temporary:
        with open(temporary, "w") as stream:
            json.dump(summary, stream, indent=1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
