"""Training-pipeline figures (issue 3): samples/s of training against the bare network step,
waveform generation per core, and memory per 10^5 stored training waveforms.

    python benchmarks/training_throughput.py [--config examples/train_cpu_hour.ini] [--batches 40]

Target: the data pipeline (simulation of extrinsic parameters, PSDs, projection, noise) adds ≤ 20%
to the bare network step.
"""

import argparse
import dataclasses
import json
import tempfile
import time

import bilby
import numpy as np
import torch

from bilby_dingo.simulation.waveforms import generate_polarisations
from bilby_dingo.training.config import TrainingConfig
from bilby_dingo.training.trainer import Trainer


def waveform_rate(config, approximant, count, rng_seed=0):
    """Waveforms per second on one core, and bytes stored per waveform (h+ and h×, complex64)."""
    settings = dataclasses.replace(config.waveform_settings(), waveform_approximant=approximant)
    priors = config.priors()
    bilby.core.utils.random.seed(rng_seed)
    samples = priors.sample(count)
    if approximant == "IMRPhenomPv2":  # give the precessing model precessing spins
        rng = np.random.default_rng(rng_seed)
        samples.update(a_1=rng.uniform(0, 0.9, count), a_2=rng.uniform(0, 0.9, count),
                       tilt_1=np.arccos(rng.uniform(-1, 1, count)), tilt_2=np.arccos(rng.uniform(-1, 1, count)),
                       phi_12=rng.uniform(0, 2 * np.pi, count), phi_jl=rng.uniform(0, 2 * np.pi, count))
        samples.pop("chi_1", None)
        samples.pop("chi_2", None)
    start = time.perf_counter()
    plus, cross = generate_polarisations(settings, samples, num_processes=1)
    elapsed = time.perf_counter() - start
    return count / elapsed, (plus.nbytes + cross.nbytes) / count


def step(model, optimizer, batch):
    optimizer.zero_grad()
    loss = model.loss(**batch)
    loss.backward()
    optimizer.step()


def training_rates(config, batches):
    with tempfile.TemporaryDirectory() as outdir:
        trainer = Trainer(config, outdir=outdir)
        trainer.prepare()
        model, optimizer = trainer.model, trainer.optimizer
        model.train()
        rng = np.random.default_rng(0)
        size = config.batch_size
        batch = trainer.simulator.simulate(trainer.train_indices[:size], rng)
        batch = {key: torch.from_numpy(value).to(trainer.device) for key, value in batch.items()}
        for _ in range(3):  # warm-up
            step(model, optimizer, batch)
        start = time.perf_counter()
        for _ in range(batches):
            step(model, optimizer, batch)
        bare = batches * size / (time.perf_counter() - start)

        order = np.resize(trainer.train_indices, batches * size)
        start = time.perf_counter()
        for batch in trainer._batches(order, rng):
            step(model, optimizer, batch)
        pipeline = batches * size / (time.perf_counter() - start)

        start = time.perf_counter()
        for first in range(0, len(order), size):
            trainer.simulator.simulate(order[first:first + size], rng)
        simulation_only = batches * size / (time.perf_counter() - start)
    return dict(bare_network_samples_per_s=bare, training_samples_per_s=pipeline,
                simulation_only_samples_per_s=simulation_only, pipeline_overhead=bare / pipeline - 1,
                num_weights=model.num_weights(), device=trainer.device, torch_threads=torch.get_num_threads())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="examples/train_cpu_hour.ini")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--waveforms", type=int, default=300, help="waveforms timed per approximant")
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    bilby.core.utils.setup_logger(log_level="WARNING")
    config = TrainingConfig.from_file(args.config)
    report = dict(config=args.config, bins=int(len(config.waveform_settings().frequencies())))
    for approximant in ("IMRPhenomD", "IMRPhenomPv2"):
        rate, bytes_per_waveform = waveform_rate(config, approximant, args.waveforms)
        report[f"{approximant}_waveforms_per_s_per_core"] = rate
    report["memory_per_1e5_waveforms_GB"] = bytes_per_waveform * 1e5 / 1e9
    small = dataclasses.replace(config, num_waveforms=max(2000, args.batches * config.batch_size // 4),
                                num_processes=2, svd_num_waveforms=500)
    report.update(training_rates(small, args.batches))
    print(f"config {args.config}: {report['bins']} frequency bins per detector")
    for approximant in ("IMRPhenomD", "IMRPhenomPv2"):
        print(f"waveform generation, {approximant}: {report[f'{approximant}_waveforms_per_s_per_core']:.0f} per s per core")
    print(f"memory: {report['memory_per_1e5_waveforms_GB']:.2f} GB per 10^5 stored waveforms (h+, h×, complex64)")
    print(f"network ({report['num_weights']:,} weights, {report['device']}, {report['torch_threads']} threads): "
          f"bare step {report['bare_network_samples_per_s']:.0f} samples/s, with the data pipeline "
          f"{report['training_samples_per_s']:.0f} samples/s -> pipeline adds "
          f"{100 * report['pipeline_overhead']:.1f}% [target ≤ 20%]; simulation alone "
          f"{report['simulation_only_samples_per_s']:.0f} samples/s")
    if args.output:
        with open(args.output, "w") as stream:
            json.dump(report, stream, indent=2)


if __name__ == "__main__":
    main()
