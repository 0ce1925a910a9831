#!/usr/bin/env bash
# The window model of `realiisr upscale CLIP --temporal 2` (real_iisr_x4_flir_temporal; docs/video.md): the shipped
# weights fine-tuned on windows of five moving looks at each HR crop, fused onto the centre look
# (realiisr.video.window_data) and degraded with the camera's LR-side processing (flir_iisr_camera: local AGC,
# sensor noise and stripes, as the sweep and the synthetic test clips), then under the lighter flir_iisr preset,
# then with each fused window back-projected onto its looks (3 passes, as `upscale --temporal` gives it); the four
# sample pairs for validation only.
#   bash scripts/train_temporal_cpu.sh [SHARED] [RUN]
# About 105 min of a 2-core CPU (three stages); resumes when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-${REALIISR_SHARED:-../shared}}/data
RUN=${2:-$PWD/temporal-run}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
# the shipped chain's crops without the degradation sweep's held-out HIT-UAV range
[[ -f "$RUN/crops.npz" ]] || $PY -m realiisr pack-frames "$S/thermal-frames/roadscene" "$S/thermal-frames/hit-uav" \
  "$S/thermal-frames/tno@2" "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" \
  -o "$RUN/crops.npz" --crop 144 --per-frame 4 --seed 1 --exclude-sweep-holdout
$PY -m realiisr train --recipe real_iisr_x4_flir --temporal 2 --data "$RUN/crops.npz" \
  --data "$S/flir-iisr-samples/pairs" --holdout '*' --register-pairs --no-progress --resume --out "$RUN/window" \
  --degradation flir_iisr_camera --init realiisr/weights/real_iisr_x4_flir.safetensors --steps 1000 seed=0 \
  batch_size=8 log_every=25 val_samples=16 lr=3e-5 val_every=500 save_every=200 train_decoder=true
# stage 2: the same windows under the lighter flir_iisr preset (less noise, no local AGC), 800 steps
$PY -m realiisr train --recipe real_iisr_x4_flir_temporal --temporal 2 --data "$RUN/crops.npz" \
  --data "$S/flir-iisr-samples/pairs" --holdout '*' --register-pairs --no-progress --resume --out "$RUN/window2" \
  --degradation flir_iisr --init "$RUN/window/step-00001000/model.safetensors" --steps 800 seed=1 \
  batch_size=8 log_every=25 val_samples=16 lr=3e-5 val_every=800 save_every=200 train_decoder=true
# stage 3: the same windows back-projected onto every look (the guide clips get), 800 steps
$PY -m realiisr train --recipe real_iisr_x4_flir_temporal --temporal 2 --back-projection 3 --data "$RUN/crops.npz" \
  --data "$S/flir-iisr-samples/pairs" --holdout '*' --register-pairs --no-progress --resume --out "$RUN/window3" \
  --degradation flir_iisr --init "$RUN/window2/step-00000800/model.safetensors" --steps 800 seed=2 \
  batch_size=8 log_every=25 val_samples=16 lr=3e-5 val_every=800 save_every=200 train_decoder=true
echo "weights: $RUN/window3/step-00000800/model.safetensors (recipe: $RUN/window3/recipe.yaml)"
