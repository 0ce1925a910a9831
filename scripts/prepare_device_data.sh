#!/usr/bin/env bash
# Pack what a device run of scripts/train_on_device.sh needs into .carry/ (git-ignored; name it in `carry`):
# the training HR crops of ../shared/data/thermal-frames and the FLIR-IISR sample frames in one .npz, and the
# four real sample pairs for validation. ../shared does not travel to a device machine; this does (~35 MB).
#   bash scripts/prepare_device_data.sh [SHARED]   (default: $REALIISR_SHARED or ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-${REALIISR_SHARED:-../shared}}/data
PY=${PYTHON:-.venv/bin/python}
mkdir -p .carry/pairs/HR .carry/pairs/LR
# the soft sources (TNO, DifIISR) are shrunk x2 first, as ../shared/data/thermal-frames/README.md advises
$PY -m realiisr pack-frames "$S/thermal-frames/roadscene" "$S/thermal-frames/hit-uav" "$S/thermal-frames/tno@2" \
  "$S/thermal-frames/difiisr@2" "$S/flir-iisr-samples/frames/HR" -o .carry/crops.npz --crop 144 --per-frame 2 --seed 0
for f in "$S"/flir-iisr-samples/pairs/HR/*.png; do
  cp "$f" .carry/pairs/HR/ && cp "$S/flir-iisr-samples/pairs/LR/$(basename "$f")" .carry/pairs/LR/
done
du -sh .carry
