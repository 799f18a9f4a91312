"""How the refinement's flow fits should train: training settings compared on recorded fit problems.

Two steps. ``record`` runs an analysis script (the main example, a survey injection) and saves every
flow fit the refinement makes — the standardised points, their tempered weights and the flow it starts
from — to ``DIR/fitN.npz``. ``compare`` fits each recorded problem again under several
:class:`bilby_dingo.proposals.fitted_flow.FlowTraining` settings, with 15% of the points held back
from every fit (the same points for every setting), and prints per fit and setting: training steps, CPU
seconds, and the weighted mean log density of the held-back points (higher is better: the cross-entropy
of the fit with the weighted draws, up to a constant shared by all settings). Writes ``DIR/compare.json``.

The held-out score ranks fits by their bulk; the proposal's efficiency depends on its tails. A setting that
wins here must still be checked by the refinement's final efficiency on injections
(``benchmarks/refinement_efficiency.py``): "short" scored better here and refined worse there.

    python benchmarks/flow_fit_settings.py record DIR examples/quickstart.py --outdir outdir_quickstart
    python benchmarks/flow_fit_settings.py compare DIR [--settings current short ...] [--threads 1]
"""

import argparse
import dataclasses
import glob
import json
import os
import re
import runpy
import sys
import time

import numpy as np
import torch

from bilby_dingo.proposals.fitted_flow import FlowTraining, SplineFlowDensity

SETTINGS = {
    "current": FlowTraining(),
    # Tried on 2026-11-27: a third of the CPU time and a better held-out score, but lower final efficiencies.
    "short": FlowTraining(check_every=25, patience=3, warm_start_learning_rate=1e-3),
    "short-checks": FlowTraining(check_every=25, patience=3),
    "warm-1e-3": FlowTraining(warm_start_learning_rate=1e-3),
    "batch-1024": FlowTraining(batch_size=1024),
}
TEST_SHARE = 0.15


def record(directory, script, script_arguments):
    """Run ``script`` with every SplineFlowDensity.fit saved to ``directory`` before it runs."""
    os.makedirs(directory, exist_ok=True)
    fit = SplineFlowDensity.fit.__func__
    count = [0]

    def recording_fit(cls, y, weights, rng, start=None, **options):
        arrays = {} if start is None else {f"start:{key}": value for key, value in start.to_arrays().items()}
        np.savez(os.path.join(directory, f"fit{count[0]}.npz"), y=y, weights=weights, **arrays)
        count[0] += 1
        return fit(cls, y, weights, rng, start=start, **options)

    SplineFlowDensity.fit = classmethod(recording_fit)
    sys.argv = [script, *script_arguments]
    runpy.run_path(script, run_name="__main__")
    print(f"{count[0]} fits recorded in {directory}")


def compare(directory, names, threads, seed):
    torch.set_num_threads(threads)
    files = sorted(glob.glob(os.path.join(directory, "fit*.npz")), key=lambda f: int(re.findall(r"\d+", f)[-1]))
    if not files:
        raise SystemExit(f"No recorded fits (fit*.npz) in {directory}: run the record step first.")
    rows = []
    for path in files:
        with np.load(path, allow_pickle=False) as data:
            y, weights = data["y"], data["weights"]
            start_arrays = {key[len("start:"):]: data[key] for key in data.files if key.startswith("start:")}
        start = SplineFlowDensity.from_arrays(start_arrays) if start_arrays else None
        held_back = np.random.default_rng([seed, 1]).random(len(y)) < TEST_SHARE
        test = held_back & (weights > 0)
        test_weights = weights[test] / weights[test].sum()
        for name in names:
            began = time.process_time()
            density = SplineFlowDensity.fit(y[~held_back], weights[~held_back], np.random.default_rng([seed, 2]),
                                            start=start, training=SETTINGS[name])
            seconds = time.process_time() - began
            score = float(test_weights @ density.log_prob(y[test]))
            rows.append(dict(fit=os.path.basename(path), points=len(y), warm_start=start is not None, setting=name,
                             steps=density.training_steps, cpu_s=seconds, held_back_log_density=score))
            print(f"{rows[-1]['fit']:10s} {len(y):6d} points  {name:16s} steps {density.training_steps:4d}  "
                  f"cpu {seconds:5.1f} s  held-back log density {score:8.3f}", flush=True)
    print("\nsetting           total cpu s  mean held-back log density (over fits)")
    for name in names:
        mine = [row for row in rows if row["setting"] == name]
        print(f"{name:16s} {sum(row['cpu_s'] for row in mine):11.1f}  "
              f"{np.mean([row['held_back_log_density'] for row in mine]):8.3f}")
    summary = dict(settings={name: dataclasses.asdict(SETTINGS[name]) for name in names}, rows=rows,
                   threads=threads, seed=seed, torch=torch.__version__)
    with open(os.path.join(directory, "compare.json"), "w") as handle:
        json.dump(summary, handle, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    recorder = commands.add_parser("record", help="run a script and save its flow fits")
    recorder.add_argument("directory")
    recorder.add_argument("script")
    recorder.add_argument("script_arguments", nargs=argparse.REMAINDER)
    comparer = commands.add_parser("compare", help="refit the recorded fits under several settings")
    comparer.add_argument("directory")
    comparer.add_argument("--settings", nargs="+", default=["current", "short"], choices=sorted(SETTINGS))
    comparer.add_argument("--threads", type=int, default=1, help="torch threads for the fits")
    comparer.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "record":
        record(args.directory, args.script, args.script_arguments)
    else:
        compare(args.directory, args.settings, args.threads, args.seed)


if __name__ == "__main__":
    main()
