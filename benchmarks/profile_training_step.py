"""Where a training step's time goes, on a GPU: per-phase times, synchronisations, a profile, levers.

Builds the default model's network (sizes from ``bilby_dingo/models/default_bbh.ini``: GNPE, so two
embedding networks and two 8-transform spline flows) and its training pipeline (a smaller waveform set,
GPU simulation), then measures, each after warm-up:

1. the data: one batch from the torch simulator, timed alone (synchronised);
2. one step in phases, synchronised between them: embedding forward, flow log_prob, backward, Adam;
3. the host-device synchronisations of one step (``torch.cuda.set_sync_debug_mode``), by source line;
4. ``torch.profiler`` over 3 steps: top operations by device time and by host time, kernel launches,
   synchronisation calls, the device's busy time against the wall time;
1-4 for glasflow's spline and for the sync-free one (``bilby_dingo.network.splines``);
5. levers, each as samples/s over ``--steps`` steps on a fixed batch on the device (network only):
   glasflow's spline or the sync-free one, TF32 matrix products, batch 2048 / 8192 / 16384, a
   ``loss.item()`` each step (as the epoch loop's progress bar), the whole step as a CUDA graph, and
   ``torch.compile`` of the loss (last; failures caught and reported);
6. the real pipeline (background simulation thread included): ``Trainer.measure_throughput`` and
   ``Trainer.train_epoch`` with glasflow's spline, with the sync-free one, and with the trainer's CUDA
   graph (config ``cuda-graph``), at the first two batch sizes.

Everything goes to OUT/profile_training_step.json (rewritten after every section, so a run cut short
keeps what it measured) and to stdout.

    python benchmarks/profile_training_step.py --out OUT [--device cuda] [--num-waveforms 100000]

On a lent H100 node (no internet, no bilby/lalsuite installed), from the repository root, with the
wheels and zips in ./.whl (see benchmarks/train_v2_on_gpu.sh)::

    mkdir -p /tmp/site; for a in .whl/*.zip; do python3 -m zipfile -e $a /tmp/site; done
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl
    PYTHONPATH=/tmp/site:$PWD python3 benchmarks/profile_training_step.py --out $OUT --device cuda

It ran so on 2026-11-26 on a lent NVIDIA H100 80GB HBM3 (torch 2.11.0+cu130, 16 CPU cores): the full run
took 222 s (88 s of it compiling the ``torch.compile`` lever); with ``--skip-profile --skip-compile`` the
whole device call, wheels unpacked and a GPU test included, took 145 s. The results are in docs/validation.md ("Where a GPU training step's time goes").

A quick check on a CPU (tiny sizes, a few steps): ``--device cpu --num-waveforms 400 --batch-sizes 32
--steps 2 --small-network``. The config is built in Python (no bilby_pipe needed).
"""

import argparse
import collections
import copy
import dataclasses
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np
import torch

RESULTS = {}
OUT = "."


def log(*items):
    print(*items, flush=True)


def save():
    path = os.path.join(OUT, "profile_training_step.json")
    with open(path + ".tmp", "w") as stream:
        json.dump(RESULTS, stream, indent=1, default=str)
    os.replace(path + ".tmp", path)


def section(name):
    """Decorator-free guard: run ``function`` and record its result or its error under ``name``."""
    def run(function, *args, **kwargs):
        tick = time.perf_counter()
        try:
            value = function(*args, **kwargs)
            RESULTS[name] = value
        except Exception as error:  # reported, and the next section runs
            RESULTS[name] = dict(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-3000:])
            log(f"[{name}] FAILED: {error}")
            value = None
        RESULTS.setdefault("section_seconds", {})[name] = round(time.perf_counter() - tick, 2)
        save()
        return value
    return run


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# --- set-up ---------------------------------------------------------------------------------------

def read_simple_ini(path):
    """``key = value`` lines (the default ini has no inline comments or multi-line values)."""
    values = {}
    with open(path) as stream:
        for line in stream:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def build_trainer(args, outdir):
    from bilby_dingo.models import DEFAULT_MODEL_CONFIG, DEFAULT_MODEL_FILE, training_priors
    from bilby_dingo.network.model_file import read_model_file
    from bilby_dingo.training.config import TrainingConfig
    from bilby_dingo.training.trainer import Trainer

    values = read_simple_ini(DEFAULT_MODEL_CONFIG)
    training_priors(read_model_file(DEFAULT_MODEL_FILE)["metadata"]).to_file(outdir, "default_bbh")
    values.update({"prior-file": os.path.join(outdir, "default_bbh.prior"), "prior-dict": "None",
                   "num-waveforms": str(args.num_waveforms), "batch-size": str(args.batch_sizes[0]),
                   "simulation-backend": "torch", "device": args.device, "num-processes": str(args.processes),
                   "svd-num-waveforms": str(min(4000, args.num_waveforms // 2)), "learning-rate": "1e-3"})
    if args.small_network:
        values.update({"svd-size": "8", "embedding-hidden": "32", "embedding-blocks": "1", "context-dim": "16",
                       "flow-transforms": "2", "flow-hidden": "16", "flow-blocks-per-transform": "1"})
    config = TrainingConfig.from_dict(values)
    trainer = Trainer(config, outdir=outdir)
    tick = time.perf_counter()
    trainer.prepare()
    return trainer, time.perf_counter() - tick


def set_spline(model, sync_free):
    """Switch the model's (and its GNPE initialisation network's) coupling transforms in place."""
    from glasflow.nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform

    from bilby_dingo.network.splines import SyncFreeRationalQuadraticCouplingTransform

    new = SyncFreeRationalQuadraticCouplingTransform if sync_free else PiecewiseRationalQuadraticCouplingTransform
    count = 0
    for module in model.modules():
        if isinstance(module, PiecewiseRationalQuadraticCouplingTransform):
            module.__class__ = new
            count += 1
    return count


def make_batch(trainer, size, seed=0):
    rng = np.random.default_rng([seed, size])
    generator = torch.Generator(device=trainer.device).manual_seed(seed + size)
    indices = rng.choice(trainer.train_indices, size=size)
    return trainer.device_simulator.simulate(indices, rng, generator)


# --- measurements ---------------------------------------------------------------------------------

def time_data(trainer, size, repeats):
    """Seconds to simulate one batch on the device (numpy draws + torch work), synchronised."""
    device = trainer.device
    rng = np.random.default_rng([5, size])
    generator = torch.Generator(device=device).manual_seed(5)
    times = []
    for _ in range(repeats + 1):
        indices = rng.choice(trainer.train_indices, size=size)
        sync(device)
        tick = time.perf_counter()
        trainer.device_simulator.simulate(indices, rng, generator)
        sync(device)
        times.append(time.perf_counter() - tick)
    times = times[1:]
    return dict(batch=size, median_s=float(np.median(times)), samples_per_s=size / float(np.median(times)))


def time_phases(model, optimizer, batch, steps, device):
    """Median seconds per phase of one step, synchronised between phases."""
    rows = []
    for step in range(steps + 2):
        sync(device)
        t0 = time.perf_counter()
        optimizer.zero_grad()
        context = model.context(batch["inputs"], batch.get("proxies"))
        init_context = model.gnpe_init.context(batch["init_inputs"]) if model.gnpe_init is not None else None
        sync(device)
        t1 = time.perf_counter()
        loss = -model.flow.log_prob(model.standardise(batch["theta"]), conditional=context).mean()
        if model.gnpe_init is not None:
            loss = loss - model.gnpe_init.flow.log_prob(model.gnpe_init.standardise(batch["init_theta"]),
                                                        conditional=init_context).mean()
        sync(device)
        t2 = time.perf_counter()
        loss.backward()
        sync(device)
        t3 = time.perf_counter()
        optimizer.step()
        sync(device)
        t4 = time.perf_counter()
        if step >= 2:
            rows.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0])
    median = np.median(np.array(rows), axis=0)
    return {name: float(value) for name, value in
            zip(["embedding_forward_s", "flow_log_prob_s", "backward_s", "optimizer_s", "total_s"], median)}


def count_syncs(model, optimizer, batch, device):
    """Host-device synchronisations in one training step, by the Python line that caused them."""
    from bilby_dingo.training.trainer import training_step

    if not str(device).startswith("cuda"):
        return dict(note="synchronisation counting needs a CUDA device")
    training_step(model, optimizer, batch)
    sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            training_step(model, optimizer, batch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    sync(device)
    lines = collections.Counter(f"{os.path.basename(w.filename)}:{w.lineno}" for w in caught
                                if "synchroniz" in str(w.message))
    return dict(total=sum(lines.values()), by_line=dict(lines.most_common(20)))


def profile_steps(model, optimizer, batch, device, label, steps=3):
    """torch.profiler over ``steps`` steps: top operations by device and by host time, launches, syncs."""
    from torch.profiler import ProfilerActivity, profile

    from bilby_dingo.training.trainer import training_step

    activities = [ProfilerActivity.CPU]
    cuda = str(device).startswith("cuda")
    if cuda:
        activities.append(ProfilerActivity.CUDA)
    for _ in range(2):
        training_step(model, optimizer, batch)
    sync(device)
    tick = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            training_step(model, optimizer, batch)
        sync(device)
    wall = time.perf_counter() - tick
    averages = prof.key_averages()

    def attribute(event, *names):
        for name in names:
            if hasattr(event, name):
                return getattr(event, name)
        return 0.0

    device_keys = ("self_device_time_total", "self_cuda_time_total")
    rows = []
    for event in averages:
        rows.append(dict(name=event.key, count=event.count, self_cpu_ms=event.self_cpu_time_total / 1e3,
                         cpu_total_ms=event.cpu_time_total / 1e3,
                         self_device_ms=attribute(event, *device_keys) / 1e3))
    by_device = sorted(rows, key=lambda row: -row["self_device_ms"])[:15]
    by_cpu = sorted(rows, key=lambda row: -row["self_cpu_ms"])[:15]
    named = {row["name"]: row for row in rows}

    def count(name):
        return named.get(name, {}).get("count", 0)

    device_busy = sum(row["self_device_ms"] for row in rows) / 1e3
    summary = dict(label=label, steps=steps, wall_s_per_step=wall / steps,
                   device_busy_s_per_step=device_busy / steps if cuda else None,
                   kernel_launches_per_step=(count("cudaLaunchKernel") + count("cuLaunchKernel")
                                             + count("cudaLaunchKernelExC") + count("cuLaunchKernelEx")) / steps,
                   stream_syncs_per_step=(count("cudaStreamSynchronize") + count("cudaDeviceSynchronize")) / steps,
                   memcpy_per_step=count("cudaMemcpyAsync") / steps,
                   nonzero_per_step=count("aten::nonzero") / steps,
                   item_per_step=count("aten::_local_scalar_dense") / steps,
                   float64_note="see top tables for aten ops on double tensors (standardise, simulator)",
                   top_by_device=by_device, top_by_cpu=by_cpu)
    log(f"\n=== profile: {label} ({steps} steps) ===")
    log(f"wall {1e3 * summary['wall_s_per_step']:.1f} ms/step (profiled); device busy "
        f"{1e3 * (summary['device_busy_s_per_step'] or 0):.1f} ms/step; launches/step "
        f"{summary['kernel_launches_per_step']:.0f}; stream syncs/step {summary['stream_syncs_per_step']:.0f}; "
        f"memcpy/step {summary['memcpy_per_step']:.0f}; nonzero/step {summary['nonzero_per_step']:.0f}")
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    try:
        log(averages.table(sort_by=sort, row_limit=15, max_name_column_width=50))
        if cuda:
            log(averages.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=50))
    except Exception as error:  # table layout differs between torch versions; the JSON has the numbers
        log(f"(table failed: {error})")
    return summary


def throughput(base_model, batch, steps, device, learning_rate, item=False, graph=False, compiled=False,
               warm_up=5):
    """Samples/s of training steps on a fixed batch (network only), on a copy of ``base_model``."""
    model = copy.deepcopy(base_model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, capturable=graph)
    size = len(batch["theta"])
    if graph:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                optimizer.zero_grad(set_to_none=True)
                model.loss(**batch).backward()
                optimizer.step()
        torch.cuda.current_stream().wait_stream(stream)
        cuda_graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(cuda_graph):
            static_loss = model.loss(**batch)
            static_loss.backward()
            optimizer.step()

        def step():
            cuda_graph.replay()
            return static_loss
    else:
        loss_function = torch.compile(model.loss) if compiled else model.loss

        def step():
            optimizer.zero_grad()
            loss = loss_function(**batch)
            loss.backward()
            optimizer.step()
            return loss

    tick = time.perf_counter()
    for _ in range(warm_up):
        step()
    sync(device)
    warm_up_s = time.perf_counter() - tick
    tick = time.perf_counter()
    total = 0.0
    for _ in range(steps):
        loss = step()
        if item:
            total += loss.item()
    sync(device)
    elapsed = time.perf_counter() - tick
    final_loss = float(loss.detach())
    return dict(batch=size, samples_per_s=steps * size / elapsed, ms_per_step=1e3 * elapsed / steps,
                warm_up_s=warm_up_s, final_loss=final_loss)


def main():
    global OUT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--num-waveforms", type=int, default=100000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[2048, 8192, 16384])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--small-network", action="store_true", help="tiny network (a CPU check of the script)")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--skip-profile", action="store_true", help="no phases, synchronisation count or profile")
    parser.add_argument("--skip-levers", action="store_true", help="no network-only levers")
    parser.add_argument("--pipeline-batches", type=int, default=30, help="batches Trainer.measure_throughput times")
    parser.add_argument("--deadline", type=float, default=330.0,
                        help="seconds after which the optional sections (compile, epochs) are skipped")
    args = parser.parse_args()
    OUT = args.out
    os.makedirs(OUT, exist_ok=True)
    start = time.perf_counter()
    cuda = args.device.startswith("cuda")

    RESULTS["command"] = " ".join(sys.argv)
    RESULTS["environment"] = dict(
        torch=torch.__version__, python=sys.version.split()[0], cpu_count=os.cpu_count(),
        device=torch.cuda.get_device_name(0) if cuda else "cpu",
        date=time.strftime("%Y-%m-%d %H:%M:%S"))
    log(RESULTS["environment"])
    save()
    outdir = os.path.join("/tmp", "profile_training_step")
    os.makedirs(outdir, exist_ok=True)
    built = section("setup")(lambda: build_trainer(args, outdir))
    if built is None:
        return 1
    trainer, setup_s = built
    RESULTS["setup"] = dict(seconds=setup_s, train_waveforms=len(trainer.train_indices),
                            num_weights=trainer.model.num_weights(), device=trainer.device)
    log(f"setup {setup_s:.1f} s; {trainer.model.num_weights()} weights; device {trainer.device}")
    save()
    model, device = trainer.model, trainer.device
    lr = trainer.config.learning_rate
    small = args.batch_sizes[0]
    batches = {size: make_batch(trainer, size) for size in args.batch_sizes}
    sync(device)

    section("data")(lambda: [time_data(trainer, size, 3) for size in args.batch_sizes[:2]])
    log("data:", RESULTS["data"])

    # Phases, syncs and profiles with each spline, TF32 off (the trainer's default).
    torch.backends.cuda.matmul.allow_tf32 = False
    for sync_free in () if args.skip_profile else (False, True):
        label = "sync_free" if sync_free else "glasflow"
        set_spline(model, sync_free)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        section(f"phases_{label}")(time_phases, model, optimizer, batches[small], max(3, args.steps // 3), device)
        log(f"phases {label}:", RESULTS[f"phases_{label}"])
        section(f"syncs_{label}")(count_syncs, model, optimizer, batches[small], device)
        log(f"syncs {label}:", RESULTS[f"syncs_{label}"])
        section(f"profile_{label}")(profile_steps, model, optimizer, batches[small], device, label)

    # Levers, network only, each on a fresh copy of the model.
    levers = RESULTS.setdefault("levers", [])

    def lever(name, sync_free, tf32, size, **options):
        set_spline(model, sync_free)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        if size not in batches:
            return
        row = dict(name=name, spline="sync_free" if sync_free else "glasflow", tf32=tf32, **options)
        try:
            row.update(throughput(model, batches[size], args.steps, device, lr, **options))
        except Exception as error:
            row.update(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-2000:])
        levers.append(row)
        save()
        log(f"lever {name:<40} " + (f"{row['samples_per_s']:>9.0f} samples/s  {row['ms_per_step']:7.1f} ms/step"
                                    if "samples_per_s" in row else f"FAILED {row['error']}"))

    big = args.batch_sizes[1] if len(args.batch_sizes) > 1 else small
    huge = args.batch_sizes[2] if len(args.batch_sizes) > 2 else big
    if args.skip_levers:
        batches = {}  # every lever below skips itself
    lever(f"glasflow fp32 b{small}", False, False, small)
    lever(f"glasflow tf32 b{small}", False, True, small)
    lever(f"sync-free fp32 b{small}", True, False, small)
    lever(f"sync-free tf32 b{small}", True, True, small)
    lever(f"sync-free tf32 b{small} item/step", True, True, small, item=True)
    lever(f"glasflow tf32 b{big}", False, True, big)
    lever(f"sync-free tf32 b{big}", True, True, big)
    lever(f"sync-free tf32 b{huge}", True, True, huge)
    if cuda:
        lever(f"sync-free tf32 b{small} CUDA graph", True, True, small, graph=True)
        lever(f"sync-free tf32 b{big} CUDA graph", True, True, big, graph=True)
        lever(f"glasflow fp32 b{small} (repeat)", False, False, small)

    # The real pipeline: background simulation thread, TF32 as train_within_budget.py sets. Modes: glasflow's
    # spline eagerly (as before this profile), the sync-free spline eagerly, and with the trainer's CUDA graph.
    torch.backends.cuda.matmul.allow_tf32 = True
    pipeline = RESULTS.setdefault("pipeline", [])
    modes = [("glasflow", False, "off"), ("sync_free", True, "off")] + ([("sync_free", True, "auto")] if cuda else [])
    for label, sync_free, graph in modes:
        set_spline(model, sync_free)
        for size in (small, big):
            trainer.config = dataclasses.replace(trainer.config, batch_size=size, cuda_graph=graph)
            row = dict(spline=label, cuda_graph=graph, batch=size, tf32=True)
            try:
                row["measure_throughput_samples_per_s"] = trainer.measure_throughput(
                    num_batches=args.pipeline_batches, warm_up=3)
            except Exception as error:
                row["error"] = f"{type(error).__name__}: {error}"
            pipeline.append(row)
            save()
            log("pipeline:", row)

    # Whole epochs (train_epoch: the loop training runs), each from the model as the last left it.
    epoch_modes = [(1, "glasflow", False, "off", small), (2, "sync_free", True, "off", small)]
    if cuda:
        epoch_modes += [(3, "sync_free", True, "auto", small), (4, "sync_free", True, "auto", big)]
    for epoch, label, sync_free, graph, size in epoch_modes:
        if time.perf_counter() - start > args.deadline:
            log("deadline: remaining epochs skipped")
            break
        set_spline(model, sync_free)
        trainer.config = dataclasses.replace(trainer.config, batch_size=size, cuda_graph=graph)
        trainer._graphed_step = None
        trainer.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

        def epoch_run(epoch=epoch, size=size, graph=graph):
            loss, elapsed, data_wait = trainer.train_epoch(epoch)
            return dict(epoch=epoch, batch=size, cuda_graph=graph, samples_per_s=len(trainer.train_indices) / elapsed,
                        elapsed_s=elapsed, data_wait_s=data_wait, train_loss=loss)
        name = f"train_epoch_{label}_graph-{graph}_b{size}"
        section(name)(epoch_run)
        log("epoch:", name, RESULTS[name])
    trainer.config = dataclasses.replace(trainer.config, batch_size=small)

    RESULTS["total_s"] = time.perf_counter() - start
    save()

    log("\n=== summary (samples/s) ===")
    for row in levers:
        log(f"{row['name']:<42} {row.get('samples_per_s', float('nan')):>9.0f}  {row.get('ms_per_step', 0):7.1f} ms")
    for row in pipeline:
        log(f"pipeline {row['spline']:<10} graph {row['cuda_graph']:<4} b{row['batch']:<6} "
            f"{row.get('measure_throughput_samples_per_s', 0):>9.0f}")
    for key, value in RESULTS.items():
        if key.startswith("train_epoch_") and isinstance(value, dict) and "samples_per_s" in value:
            log(f"{key:<48} {value['samples_per_s']:>9.0f}  (data wait {value['data_wait_s']:.2f} s)")
    for key in ("phases_glasflow", "phases_sync_free"):
        log(key, {name: round(1e3 * value, 1) for name, value in (RESULTS.get(key) or {}).items()
                  if isinstance(value, float)}, "ms")

    # Last, as it may take minutes to compile (or fail): everything above is already saved.
    if cuda and not args.skip_compile and time.perf_counter() - start < args.deadline:
        lever(f"sync-free tf32 b{small} torch.compile", True, True, small, compiled=True)
    elif not args.skip_compile:
        log("compile skipped (deadline or no CUDA)")
    RESULTS["total_s"] = time.perf_counter() - start
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
