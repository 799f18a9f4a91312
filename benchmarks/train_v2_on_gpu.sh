#!/bin/bash
# Train v2 candidates side by side on one GPU node within a wall-clock budget.
#
#   [VARIANTS="v2a v2b"] bash benchmarks/train_v2_on_gpu.sh OUTDIR BUDGET_SECONDS [key=value overrides for all]
#
# The shipped default model (v2) came from two calls on an H100 (2026-11-27), the variants run in order:
#   VARIANTS=v2d bash benchmarks/train_v2_on_gpu.sh /tmp/v2 490
#   VARIANTS=v2e bash benchmarks/train_v2_on_gpu.sh /tmp/v2 195
#   python benchmarks/record_training_chain.py /tmp/v2/v2e/v2e_model.pt /tmp/v2/v2d/v2d_model.pt $V1_MODEL --out MODEL
# Next (not run yet): VARIANTS=v3a bash benchmarks/train_v2_on_gpu.sh /tmp/v3 480 — v2 continued on fresh
# waveforms; the trainer records v2's whole training chain in the new file itself.
# (V1_MODEL below; v2d was run with learning-rate=2e-4 on the command line, now its own setting).
#
# Measured on an H100 (2026-11-26): two jobs sharing the GPU each trained only ~8.5k samples/s, and the
# set-up (500k waveforms, their SVD on 16 busy cores) took 250 s of a 450 s budget. One job at a time.
#
# Both use the default model's config and network (so the comparison with v1 isolates training), with
# 5x v1's waveforms, GPU simulation (simulation-backend torch), batches of 2048 and as many epochs as
# the budget allows (examples/train_within_budget.py). They differ in one lever only:
#   v2a  the training data's distances from the analysis prior (uniform in comoving volume, as v1)
#   v2b  training-distance-prior uniform in luminosity distance over the same 100-3000 Mpc: ~30x more
#        training signals closer than 500 Mpc, i.e. more loud ones
# A node without bilby/lalsuite can carry them in ./.whl (wheels, and zips unpacked as they are).
# Config files are read with bilby_pipe's parser: carry bilby_pipe as a zip of its Python files without
# data_files (its wheel is 40 MB, mostly those), with gwosc, pycondor, tenacity and configargparse.
set -u
VARIANTS=${VARIANTS:-v2a v2b}
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
        learning-rate=1e-3 num-processes=$((16 / $(echo $VARIANTS | wc -w))) simulation-backend=torch seed=2)
# v1, the model the fine-tuning variants start from (since v2 ships, no longer the packaged file):
#   git show 2b11c38:bilby_dingo/models/default_bbh_model.pt > v1_model.pt; export V1_MODEL=v1_model.pt
V1_MODEL=${V1_MODEL:-}
LOUDER="training-distance-prior=Uniform(name='luminosity_distance', minimum=100, maximum=3000)"
for variant in $VARIANTS; do
    case $variant in
        v2a) OWN=() ;;
        v2b) OWN=("$LOUDER") ;;
        # v2b's data, continuing from v1's weights (fine-tuning: v1's 100 epochs plus louder, fresh waveforms)
        v2c|v2d) [ -n "$V1_MODEL" ] || { echo "set V1_MODEL to v1's model file (see above)"; exit 6; } ;;&
        v2c) OWN=("$LOUDER" initial-model="$V1_MODEL") ;;
        # v2c at scale, now that a CUDA-graph step trains ~4x faster: 1M fresh waveforms, batches of 4096, and
        # about three times v1's 10 M training samples on top of them. Not v1's 5e-4: restarting Adam at 3e-4
        # or more first undid much of v1's training (measured on the CPU at small scale)
        v2d) OWN=("$LOUDER" initial-model="$V1_MODEL" num-waveforms=1000000
                  batch-size=4096 learning-rate=2e-4 seed=3) ;;
        # v2d continued at a lower learning rate on the same waveforms (seed 3): the shipped default model v2
        # (2026-11-27, budget 195 s after v2d's 490 s; run then as label v2d in v2d's outdir, so that the
        # waveforms file was reused, with initial-model a copy of v2d's model; benchmarks/record_training_chain.py
        # then nested v2d's and v1's training records into it)
        v2e) OWN=("$LOUDER" initial-model="$OUTDIR/v2d/v2d_model.pt" num-waveforms=1000000 batch-size=4096
                  learning-rate=1e-4 seed=3) ;;
        # v3a, for the next lease: the shipped v2 continued on 1M *fresh* waveforms (seed 4), lr 1e-4 cosine
        # (v2e's rate, at which v2's loss was still falling: -1.31 -> -1.41 in 11 epochs). Budget ~480 s of
        # a 10-minute call. Measure the simulation first (profile_training_step.py, docs/validation.md "The
        # training batch's host-side time"): the sidereal time per 8 s cell cut the host work 3-5.6x on the CPU.
        # Training distances from the analysis prior, not $LOUDER: on the CPU (2026-12-08, cpu_lever_trials.sh,
        # docs/validation.md "Screening training levers") continuing v2 on louder distances lost in every SNR band
        # and on the analysis prior's gained in every band.
        v3a) OWN=(initial-model=bilby_dingo/models/default_bbh_model.pt num-waveforms=1000000
                  batch-size=4096 learning-rate=1e-4 seed=4) ;;
        *) echo "unknown variant $variant"; exit 5 ;;
    esac
    python3 examples/train_within_budget.py bilby_dingo/models/default_bbh.ini --outdir "$OUTDIR/$variant" \
        --budget "$BUDGET" --threads $((16 / $(echo $VARIANTS | wc -w))) \
        --set label=$variant "${COMMON[@]}" "${OWN[@]}" "$@" > "$OUTDIR/$variant.log" 2>&1 &
done
wait
for variant in $VARIANTS; do tail -n 3 "$OUTDIR/$variant.log"; done
