#!/usr/bin/env bash
# Reproduce the shipped weights (recipe real_iisr_x4_flir) on a CPU, stage by stage, as the model card lists:
#   bash scripts/train_shipped_cpu.sh [SHARED] [RUN]      (defaults: ../shared, ./shipped-run)
# About 2 h 45 min of a 2-core CPU. Every stage resumes (--resume) when the script is started again; each stage's
# weights are the checkpoint named below, so a stage that ends early (stop_after) is part of the recipe, not a
# crash: the learning-rate schedule of that stage spans its full --steps.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-${REALIISR_SHARED:-../shared}}/data
RUN=${2:-$PWD/shipped-run}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
# 5,012 crops of 144² (4 per frame), the soft sources (TNO, DifIISR) shrunk ×2 first
[[ -f "$RUN/crops.npz" ]] || $PY -m realiisr pack-frames "$S/thermal-frames/roadscene" "$S/thermal-frames/hit-uav" \
  "$S/thermal-frames/tno@2" "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" \
  -o "$RUN/crops.npz" --crop 144 --per-frame 4 --seed 1
# the four real sample pairs validate only (--holdout '*'); HR frames are degraded by the flir_iisr preset
common=(--recipe real_iisr_x4_tiny_detail --data "$RUN/crops.npz" --data "$S/flir-iisr-samples/pairs" --holdout '*'
        --register-pairs --no-progress --resume)
opts=(seed=0 batch_size=8 log_every=25 val_samples=16)
# 1. tokenizer with the LR-conditioned decoder: 1,500 steps (its last checkpoint is its best)
$PY -m realiisr train-tokenizer "${common[@]}" --out "$RUN/tokenizer" --steps 1500 "${opts[@]}" lr=5e-4 \
  val_every=250 save_every=250 tokenizer.lr_condition=unshuffle
# 2. generator on the frozen tokenizer (cross-entropy, the recipe's loss weights): step 1,000 of 1,500
$PY -m realiisr train "${common[@]}" --out "$RUN/generator" --init "$RUN/tokenizer/step-00001500/model.safetensors" \
  --steps 1500 "${opts[@]}" lr=4e-4 stop_after=1000 val_every=250 save_every=250 tokenizer.lr_condition=unshuffle
# 3. the decoder joins (train_decoder) and sees the LR at every level (lr_condition=pyramid: its new convs start
#    at zero); cross-entropy weighted down and the pixel losses up, so the posterior-mean decode is what learns
$PY -m realiisr train "${common[@]}" --out "$RUN/joint" --init "$RUN/generator/step-00001000/model.safetensors" \
  --steps 1500 "${opts[@]}" lr=2e-4 val_every=300 save_every=300 tokenizer.lr_condition=pyramid \
  train_decoder=true loss_weights.ce=0.1 loss_weights.mse=250 loss_weights.toc=25
# 4. the decoder without its full-resolution level (the shipped recipe's decoder_shuffle_levels=1), distilled from
#    stage 3's full decoder on the generator's own predictions (distill_decoder: only the decoder side trains; no
#    HR is used). Its crops leave out the sweep's held-out HIT-UAV range, so the sweep stays unseen by this stage.
[[ -f "$RUN/crops-sweep-excluded.npz" ]] || $PY -m realiisr pack-frames "$S/thermal-frames/roadscene" \
  "$S/thermal-frames/hit-uav" "$S/thermal-frames/tno@2" "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" \
  -o "$RUN/crops-sweep-excluded.npz" --crop 144 --per-frame 4 --seed 1 --exclude-sweep-holdout
$PY -m realiisr train --recipe real_iisr_x4_flir --data "$RUN/crops-sweep-excluded.npz" --data "$S/flir-iisr-samples/pairs" \
  --holdout '*' --register-pairs --no-progress --resume --out "$RUN/distilled" \
  --init "$RUN/joint/step-00001500/model.safetensors" --init-drop-decoder-levels 1 --steps 1500 \
  seed=0 batch_size=16 log_every=25 val_samples=16 lr=5e-4 val_every=500 save_every=250 distill_decoder=true
echo "weights: $RUN/distilled/step-00001500/model.safetensors (recipe: $RUN/distilled/recipe.yaml)"
