#!/usr/bin/env bash
# The paper's ablation on the shipped model (docs/ablations.md): full, no TSG, no CAC, no TOC and a diffusion
# generator, each trained from the shipped tokenizer (its LR-conditioned decoder included) with the same data,
# seed and step budget, then scored on the four sample pairs (aligned) and the degradation sweep:
#   bash scripts/ablation_cpu.sh [SHARED] [RUN] [STEPS]      (defaults: ../shared, ./ablation-run, 300)
# About 10 min of a 2-core CPU per variant at 300 steps; started again, it trains only what is not finished.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-${REALIISR_SHARED:-../shared}}/data
RUN=${2:-$PWD/ablation-run}
STEPS=${3:-300}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
# the shipped chain's crops without the degradation sweep's held-out HIT-UAV range
[[ -f "$RUN/crops.npz" ]] || $PY -m realiisr pack-frames "$S/thermal-frames/roadscene" "$S/thermal-frames/hit-uav" \
  "$S/thermal-frames/tno@2" "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" \
  -o "$RUN/crops.npz" --crop 144 --per-frame 4 --seed 1 --exclude-sweep-holdout
$PY -m realiisr ablate --recipe real_iisr_x4_flir --data "$RUN/crops.npz" \
  --tokenizer realiisr/weights/real_iisr_x4_flir.safetensors --variants full,no_tsg,no_cac,no_toc,diffusion \
  --steps "$STEPS" --pairs "$S/flir-iisr-samples/pairs" --sweep "$S/thermal-frames/hit-uav" \
  --out "$RUN/ablation" batch_size=8 lr=4e-4 log_every=25
