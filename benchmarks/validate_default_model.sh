#!/usr/bin/env bash
# Validation of a model (default: the shipped default model), as summarised in docs/validation.md.
#   bash benchmarks/validate_default_model.sh [MODEL] [OUTDIR] [pp|efficiency|dynesty ...]
# (a) P-P over 200 injections from the training prior, network alone and importance-sampled;
# (b) sample efficiency and n_eff over 50 injections across the prior and the PSD family, drawing until
#     n_eff reaches 1,000 (at most 2x10^5 draws);
# (c) 3 injections (network SNR >= 10) against bilby + dynesty on the same likelihood and machine
#     (dynesty nlive 250, naccept 30: what fits a 2-core session; more is better where time allows).
# Tables of the outputs: python benchmarks/summarise_validation.py OUTDIR
# pp and efficiency record each injection as it finishes: rerun the same command to resume.
# Distance and phase are left to bilby's marginalisation in all three, as the default model is used.
# (a) and (b) measure the network as the proposal (--no-refine, as when they were first run, before
# refinement existed); (c) runs the sampler's defaults, refinement included.
set -euo pipefail
MODEL=$(realpath "${1:-$(python -c "import bilby_dingo; print(bilby_dingo.default_model())")}")
OUT=$(realpath -m "${2:-outdir_validation}")
cd "$(dirname "$0")/.."
shift $(( $# > 2 ? 2 : $# ))
STEPS=${*:-pp efficiency dynesty}
for step in $STEPS; do
  case $step in
    pp) bilby_dingo_pp "$MODEL" --num-injections 200 --num-samples 5000 --gnpe-chains 2000 --no-refine \
          --marginalise distance phase --seed 1 --npool 2 --outdir "$OUT/pp" ;;
    efficiency) bilby_dingo_pp "$MODEL" --num-injections 50 --target-n-eff 1000 --max-samples 200000 --no-refine \
          --marginalise distance phase --seed 2 --npool 2 --outdir "$OUT/efficiency" ;;
    dynesty) python benchmarks/model_vs_dynesty.py "$MODEL" --num-injections 3 --marginalise distance phase \
          --min-snr 10 --target-n-eff 1000 --max-samples 200000 --nlive 250 --naccept 30 --npool 2 --outdir "$OUT/vs_dynesty" ;;
    *) echo "unknown step '$step': choose from pp, efficiency, dynesty" >&2; exit 2 ;;
  esac
done
