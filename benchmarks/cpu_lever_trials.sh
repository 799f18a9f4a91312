#!/bin/bash
# Small-scale training-lever trials on a CPU, screened by held-out log q (benchmarks/network_loss_by_snr.py).
#
#   bash benchmarks/cpu_lever_trials.sh OUTDIR [TRIAL ...]      (default: A B C D; two at a time fit 2 cores)
#
# Every trial continues the shipped model (v2) on the same 300,000 fresh waveforms (seed 5), batches of 1024,
# 5 epochs with a cosine schedule, one torch thread each, and differs from the others in one lever:
#   A  training distances uniform in luminosity distance, 100-3000 Mpc (v2's own training data), lr 1e-4
#   B  training distances log-uniform over 100-3000 Mpc (louder still), lr 1e-4
#   C  training distances from the analysis prior (uniform in comoving volume, as v1), lr 1e-4
#   D  as C, lr 3e-5
# and the long runs that followed (2026-12-08), 400,000 waveforms (seed 6), 18 epochs, analysis prior:
#   L1 lr 3e-5        L2 lr 1e-4
# and the long run they point to, started 2026-12-08 to go on over sessions (resume: run the same command again):
#   V3 400,000 waveforms (seed 7), 120 epochs (47 M samples, ~7 h alone on this machine), lr 1e-4, analysis prior
# Then the screen, on 60,000 waveforms from the analysis prior (seed 11), v2 first (the baseline):
#   python benchmarks/network_loss_by_snr.py v2_model.pt OUTDIR/trialA/trialA_model.pt ... --num-waveforms 60000
# Measured on this project's 2-core CPU VM, two trials side by side: 1,650-2,150 samples/s each, 13 min a trial.
# Resumable: run it again and each trial continues from its last epoch's checkpoint.
set -eu
OUTDIR=$1
shift
TRIALS=${*:-A B C D}
CONFIG=bilby_dingo/models/default_bbh.ini
mkdir -p "$OUTDIR"
cp -n bilby_dingo/models/default_bbh_model.pt "$OUTDIR/v2_model.pt"

for trial in $TRIALS; do
    case $trial in
        A|B|C|D) waveforms=300000 epochs=5 seed=5 ;;
        L1|L2) waveforms=400000 epochs=18 seed=6 ;;
        V3) waveforms=400000 epochs=120 seed=7 ;;
        *) echo "unknown trial $trial (A, B, C, D, L1, L2, V3)"; exit 5 ;;
    esac
    case $trial in
        A|B|C|L2|V3) rate=1e-4 ;;
        D|L1) rate=3e-5 ;;
    esac
    ini="$OUTDIR/trial$trial.ini"
    sed -e "s/^label = .*/label = trial$trial/" -e "s/^num-waveforms = .*/num-waveforms = $waveforms/" \
        -e "s/^epochs = .*/epochs = $epochs/" -e "s/^batch-size = .*/batch-size = 1024/" \
        -e "s/^learning-rate = .*/learning-rate = $rate/" -e "s/^seed = .*/seed = $seed/" "$CONFIG" > "$ini"
    echo "initial-model = $OUTDIR/v2_model.pt" >> "$ini"
    case $trial in
        A) echo "training-distance-prior = Uniform(name='luminosity_distance', minimum=100, maximum=3000)" >> "$ini" ;;
        B) echo "training-distance-prior = LogUniform(name='luminosity_distance', minimum=100, maximum=3000)" >> "$ini" ;;
    esac
    OMP_NUM_THREADS=1 nice -n 5 bilby_dingo_train "$ini" --outdir "$OUTDIR/trial$trial" --resume \
        > "$OUTDIR/trial$trial.log" 2>&1 &
done
wait
for trial in $TRIALS; do grep "epoch" "$OUTDIR/trial$trial.log" | tail -n 1; done
