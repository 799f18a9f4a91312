#!/bin/bash
# Train the two v2 candidates side by side on one GPU node within a wall-clock budget.
#
#   bash benchmarks/train_v2_on_gpu.sh OUTDIR BUDGET_SECONDS [extra key=value overrides for both]
#
# Both use the default model's config and network (so the comparison with v1 isolates training), with
# 5x v1's waveforms, GPU simulation (simulation-backend torch), batches of 2048 and as many epochs as
# the budget allows (examples/train_within_budget.py). They differ in one lever only:
#   v2a  the training data's distances from the analysis prior (uniform in comoving volume, as v1)
#   v2b  training-distance-prior uniform in luminosity distance over the same 100-3000 Mpc: ~30x more
#        training signals closer than 500 Mpc, i.e. more loud ones
# A node without bilby/lalsuite can carry them in ./.whl (wheels, and zips unpacked as they are).
set -u
OUTDIR=$1
BUDGET=$2
shift 2
mkdir -p "$OUTDIR"
if [ -d .whl ]; then
    mkdir -p /tmp/site
    for archive in .whl/*.zip; do python3 -m zipfile -e "$archive" /tmp/site; done
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
python3 -c "import lal, lalsimulation, bilby, glasflow, bilby_dingo.training.trainer" || exit 3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null

# The default prior as a bilby prior file, from the v1 model's stored strings (parsed without evaluating
# code, and without bilby_pipe, which only the prior-dict form needs).
python3 - "$OUTDIR" <<'EOF' || exit 4
import sys
from bilby_dingo.models import DEFAULT_MODEL_FILE, training_priors
from bilby_dingo.network.model_file import read_model_file
training_priors(read_model_file(DEFAULT_MODEL_FILE)["metadata"]).to_file(sys.argv[1], "default_bbh")
EOF

COMMON=(prior-file="$OUTDIR/default_bbh.prior" prior-dict=None num-waveforms=500000 batch-size=2048
        learning-rate=1e-3 num-processes=8 simulation-backend=torch seed=2 "$@")
python3 examples/train_within_budget.py bilby_dingo/models/default_bbh.ini --outdir "$OUTDIR/v2a" \
    --budget "$BUDGET" --threads 4 --set label=v2a "${COMMON[@]}" > "$OUTDIR/v2a.log" 2>&1 &
python3 examples/train_within_budget.py bilby_dingo/models/default_bbh.ini --outdir "$OUTDIR/v2b" \
    --budget "$BUDGET" --threads 4 --set label=v2b \
    "training-distance-prior=Uniform(name='luminosity_distance', minimum=100, maximum=3000)" \
    "${COMMON[@]}" > "$OUTDIR/v2b.log" 2>&1 &
wait
tail -n 3 "$OUTDIR/v2a.log" "$OUTDIR/v2b.log"
