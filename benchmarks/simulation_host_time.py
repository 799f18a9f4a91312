"""Host-side time of one training batch (issue 16): the per-sample numpy work that the GPU simulator leaves
on the CPU (``TorchTrainingDataSimulator.simulate``: extrinsic draws, PSD draws, detector geometry, GNPE
proxies), with the sidereal time per 8 s cell (``simulation.detector.sidereal_time``) and, for comparison,
bilby's per-time sidereal time. On a lent GPU this part ran in a thread beside the training step, which
waited for the simulation 80-85% of each epoch (docs/validation.md, "v2, shipped").

    python benchmarks/simulation_host_time.py [--config bilby_dingo/models/default_bbh.ini]
        [--batch-sizes 2048 4096 8192] [--repeats 20] [--out FILE.json]

No waveforms are generated: the geometry and draws do not depend on them.
"""

import argparse
import json
import os
import platform
import time

import numpy as np
from bilby.gw.utils import greenwich_mean_sidereal_time

from bilby_dingo.simulation.detector import sidereal_time
from bilby_dingo.simulation.noise import PSDFamily
from bilby_dingo.simulation.simulator import TrainingDataSimulator
from bilby_dingo.simulation.time_proxies import UniformTimeKernel
from bilby_dingo.training.config import TrainingConfig


def build_simulator(config, num_waveforms=100):
    """The config's simulator with placeholder polarisations (the host-side work does not read them)."""
    settings = config.waveform_settings()
    num_bins = len(settings.frequencies())
    zeros = np.zeros((num_waveforms, num_bins), dtype=np.complex64)
    extrinsic = {"ra", "dec", "psi", "luminosity_distance", "geocent_time"}
    intrinsic = {key: np.full(num_waveforms, 0.5) for key in config.inference_parameters if key not in extrinsic}
    family = PSDFamily(config.psd_family, settings.frequencies(), config.psd_perturbation_sigma,
                       config.psd_perturbation_nodes, config.psd_scale_range)
    kernel = None if config.gnpe_time_kernel is None else UniformTimeKernel(config.gnpe_time_kernel,
                                                                            len(config.detectors))
    return TrainingDataSimulator(settings, config.interferometers(), zeros, zeros, intrinsic,
                                 config.training_data_priors(config.priors()), config.deltaT, config.reference_time,
                                 config.post_trigger_duration, family, config.inference_parameters,
                                 gnpe_kernel=kernel)


def milliseconds(function, repeats):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return 1e3 * (time.perf_counter() - start) / repeats


def host_work(simulator, size, rng):
    """What TorchTrainingDataSimulator.simulate computes in numpy for one batch."""
    indices = rng.integers(simulator.num_waveforms, size=size)
    extrinsic = simulator.draw_extrinsic(size, rng)
    simulator.psd_family.draw_parameters((size, len(simulator.projector.names)), rng)
    *_, delays = simulator.projector.projection_coefficients_and_delays(
        extrinsic["ra"], extrinsic["dec"], simulator.reference_time + extrinsic["geocent_time"], extrinsic["psi"])
    theta = simulator.theta(indices, extrinsic)
    if simulator.gnpe_kernel is not None:
        simulator._draw_proxies(theta, extrinsic, extrinsic["geocent_time"][:, None] + delays, rng)


def processor_name():
    """The CPU model, as /proc/cpuinfo names it (platform.processor() is empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="bilby_dingo/models/default_bbh.ini")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    simulator = build_simulator(TrainingConfig.from_file(args.config))
    rng = np.random.default_rng(0)
    rows = []
    for size in args.batch_sizes:
        times = simulator.reference_time + rng.uniform(-simulator.time_prior_width / 2,
                                                       simulator.time_prior_width / 2, size)
        row = dict(batch_size=size,
                   host_work_ms=milliseconds(lambda: host_work(simulator, size, rng), args.repeats),
                   sidereal_time_per_cell_ms=milliseconds(lambda: sidereal_time(times), args.repeats),
                   bilby_sidereal_time_per_time_ms=milliseconds(lambda: greenwich_mean_sidereal_time(times),
                                                                args.repeats))
        row["host_work_with_per_time_sidereal_ms"] = (row["host_work_ms"] - row["sidereal_time_per_cell_ms"]
                                                      + row["bilby_sidereal_time_per_time_ms"])
        row["host_samples_per_s"] = 1e3 * size / row["host_work_ms"]
        rows.append(row)
        print(json.dumps({key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()}))
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(dict(machine=processor_name(), cores=os.cpu_count(), config=args.config, rows=rows),
                      stream, indent=2)
            stream.write("\n")


if __name__ == "__main__":
    main()
