#!/usr/bin/env bash
# The real-noise fine-tune of the shipped weights (docs/training.md, "Real noise in training"), and its control:
#   bash scripts/finetune_real_noise_cpu.sh [SHARED] [RUN] [DEGRADATION]
# DEGRADATION: real_noise (default: the YAML written below) or a preset name, e.g. flir_iisr for the control that
# changes nothing but the fine-tune itself. About 40 min of a 2-core CPU; resumes when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-${REALIISR_SHARED:-../shared}}/data
RUN=${2:-$PWD/real-noise-run}
DEGRADATION=${3:-real_noise}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
# the shipped chain's crops without the degradation sweep's held-out HIT-UAV range
[[ -f "$RUN/crops.npz" ]] || $PY -m realiisr pack-frames "$S/thermal-frames/roadscene" "$S/thermal-frames/hit-uav" \
  "$S/thermal-frames/tno@2" "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" \
  -o "$RUN/crops.npz" --crop 144 --per-frame 4 --seed 1 --exclude-sweep-holdout
if [[ $DEGRADATION == real_noise ]]; then
  # flir_iisr's blur, shake and area ×4, then local AGC offsets and real noise patches cut from the five LR-only
  # sample frames (none of the four validation pairs)
  samples=$(realpath "$S/flir-iisr-samples")
  cat > "$RUN/real_noise.yaml" <<YAML
steps:
  - {type: defocus, kind: mixed, sigma: [1.0, 9.0], spread: 0.35}
  - {type: motion_blur, length: [3.0, 13.0], probability: 0.1}
  - {type: downsample, scale: 4}
  - {type: local_agc, rms: [0.0035, 0.006]}
  - {type: real_noise, frames: [$samples/frames/LR, $samples/pairs/LR/001202_1.png], strength: [0.3, 1.5]}
  - {type: quantize, bits: 8}
YAML
  DEGRADATION=$RUN/real_noise.yaml
fi
$PY -m realiisr train --recipe real_iisr_x4_flir --data "$RUN/crops.npz" --data "$S/flir-iisr-samples/pairs" \
  --holdout '*' --register-pairs --no-progress --resume --degradation "$DEGRADATION" --out "$RUN/finetune" \
  --init realiisr/weights/real_iisr_x4_flir.safetensors --steps 1200 seed=0 batch_size=8 log_every=25 \
  val_samples=16 lr=1e-4 val_every=300 save_every=300 train_decoder=true
echo "weights: $RUN/finetune/step-00001200/model.safetensors (recipe: $RUN/finetune/recipe.yaml)"
