#!/usr/bin/env bash
# Train the shipped tiny_detail model (tokenizer stage, then generator stage) inside one device call and bring
# the weights and logs back under $OUT. Prepare .carry/ first (scripts/prepare_device_data.sh) and carry it.
#   TOKENIZER_STEPS=2000 GENERATOR_STEPS=3000 BATCH=32 bash scripts/train_on_device.sh
# The defaults are sized for one 10-minute call, estimated from rates measured on an H200 for the tiny
# recipes (12.7 and 9.8 steps/s at batch 32, fp32; this recipe's LR-conditioned decoder is unmeasured there):
# ~160 s + ~310 s plus start-up and validation. Runs on the CPU too (DEVICE=cpu, small step counts) to check
# the script before spending device time.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
RUN=${RUN:-/tmp/realiisr-run}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-8}
mkdir -p "$OUT" "$RUN"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
[[ -f .carry/crops.npz && -d .carry/pairs ]] || { echo "no .carry/ (run scripts/prepare_device_data.sh and carry .carry)"; exit 2; }
$PY -c "import torch; print('torch', torch.__version__, '| device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
common=(--recipe real_iisr_x4_tiny_detail --data .carry/crops.npz --data .carry/pairs --holdout '*' --register-pairs
        --repeats 4 --no-progress)
# the LR-conditioned decoder: on these frames it uses its tokens (aligned 36.3 dB with them, 32.8 with a zero
# latent, bicubic 32.7 on the sample pairs' crops after 1,500 CPU steps), so the generator has detail to predict
recipe_keys=(${RECIPE_KEYS:-tokenizer.lr_condition=unshuffle})
opts=("${recipe_keys[@]}" seed=0 "batch_size=$BATCH" "device=$DEVICE" "num_workers=$WORKERS" amp=${AMP:-auto} log_every=50 save_every=500
      val_samples=16 tensorboard=false)
start=$SECONDS
$PY -m realiisr train-tokenizer "${common[@]}" --out "$RUN/tokenizer" --steps "${TOKENIZER_STEPS:-2000}" --resume \
  "${opts[@]}" val_every=500 lr=${TOKENIZER_LR:-4e-4} 2>&1 | tail -n 3
echo "== tokenizer stage: $((SECONDS - start)) s"
keep() { for f in train validation; do [[ -f "$RUN/$1/$f.csv" ]] && cp "$RUN/$1/$f.csv" "$OUT/${1}_$f.csv"; done; true; }
keep tokenizer
cp "$RUN/tokenizer/best/model.safetensors" "$OUT/tokenizer.safetensors"
start=$SECONDS
$PY -m realiisr train "${common[@]}" --out "$RUN/generator" --init "$RUN/tokenizer/best/model.safetensors" \
  --steps "${GENERATOR_STEPS:-3000}" --resume "${opts[@]}" val_every=500 lr=${GENERATOR_LR:-4e-4} 2>&1 | tail -n 3
echo "== generator stage: $((SECONDS - start)) s"
keep generator
cp "$RUN/generator/best/model.safetensors" "$OUT/model.safetensors"
cp "$RUN/generator/run.yaml" "$OUT/run.yaml"
ls -la "$OUT"
