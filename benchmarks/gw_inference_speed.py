"""Speed of GW inference with a trained model (issue 4): the proposal stage (network draws with log q)
against the importance-sampling stage (bilby's likelihood), on one simulated event.

    python benchmarks/gw_inference_speed.py --model outdir_two_masses/two_masses_model.pt [--draws 10000]

Target: >= 10^4 proposal draws in a few seconds on CPU; importance sampling dominated by likelihood calls.
"""

import argparse
import tempfile
import time

import bilby
import numpy as np

from bilby_dingo.models import training_priors
from bilby_dingo.network.model_file import load_model
from bilby_dingo.proposals.network import NetworkProposal
from bilby_dingo.validation.pp import simulate_event


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="outdir_two_masses/two_masses_model.pt")
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--npool", type=int, default=1)
    args = parser.parse_args()
    bilby.core.utils.setup_logger(log_level="WARNING")
    loaded = load_model(args.model)
    metadata = loaded[1]
    rng = np.random.default_rng(0)
    likelihood, priors, _ = simulate_event(metadata, training_priors(metadata), rng, metadata["reference_time"],
                                           metadata["psd_family"]["entries"][0])
    keys = list(metadata["inference_parameters"])
    start = time.perf_counter()
    proposal = NetworkProposal(args.model, likelihood, priors, keys, loaded_model=loaded)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    proposal.sample_and_log_prob(args.draws, rng)
    draw_time = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as outdir:
        result = bilby.run_sampler(likelihood, priors, sampler="dingo", proposal=proposal, num_samples=args.draws,
                                   npool=args.npool, outdir=outdir, label="speed", save=False, sampling_seed=1,
                                   resume=False, diagnostic_plots=False, soft_init=True)
    meta = result.meta_data["dingo"]
    print(f"model {args.model} ({', '.join(keys)})")
    print(f"proposal set-up (data checks, network input, pilot fit if any): {setup:.2f} s")
    print(f"{args.draws} network draws with log q: {draw_time:.2f} s ({args.draws / draw_time:.0f} per s)")
    print(f"importance sampling of {args.draws} draws, npool={args.npool}: proposal stage {meta['proposal_time']:.2f} s, "
          f"likelihood stage {meta['likelihood_time']:.2f} s "
          f"({1e3 * meta['likelihood_time'] / max(result.num_likelihood_evaluations, 1):.2f} ms per call), "
          f"efficiency {100 * meta['sample_efficiency']:.1f}%")


if __name__ == "__main__":
    main()
