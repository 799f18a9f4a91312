#!/usr/bin/env bash
# bilby_pipe end to end with sampler = dingo, offline, on 2 CPU cores (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f outdir_two_masses/two_masses_model.pt ]; then
    bilby_dingo_train examples/train_two_masses.ini --outdir outdir_two_masses
fi
bilby_pipe examples/bilby_pipe_dingo.ini --local
ls outdir_bilby_pipe_dingo/final_result
