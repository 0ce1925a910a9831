#!/usr/bin/env bash
# Train the shipped recipe's chain (tokenizer, generator, joint stage: stages 1-3 of scripts/train_shipped_cpu.sh at
# batch 32; its stage 4, the distillation into the shipped lighter decoder, then runs on the result)
# inside one device call and bring the weights and logs back under $OUT. Prepare .carry/ first
# (scripts/prepare_device_data.sh) and carry it.
#   TOKENIZER_STEPS=1500 GENERATOR_STEPS=1000 JOINT_STEPS=1500 BATCH=32 bash scripts/train_on_device.sh
# 4,000 steps in all, sized for one 10-minute call from rates measured on an H200 for the tiny recipes (12.7 and
# 9.8 steps/s at batch 32, fp32); this recipe's LR-conditioned decoder and the joint stage are unmeasured there.
# Runs on the CPU too (DEVICE=cpu, small step counts) to check the script before spending device time.
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
$PY -m realiisr train-tokenizer "${common[@]}" --out "$RUN/tokenizer" --steps "${TOKENIZER_STEPS:-1500}" --resume \
  "${opts[@]}" val_every=500 lr=${TOKENIZER_LR:-4e-4} 2>&1 | tail -n 3
echo "== tokenizer stage: $((SECONDS - start)) s"
last() { echo "$RUN/$1/$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["folder"])' "$RUN/$1/latest")/model.safetensors"; }
keep() { for f in train validation; do [[ -f "$RUN/$1/$f.csv" ]] && cp "$RUN/$1/$f.csv" "$OUT/${1}_$f.csv"; done; true; }
keep tokenizer
cp "$RUN/tokenizer/best/model.safetensors" "$OUT/tokenizer.safetensors"
start=$SECONDS
$PY -m realiisr train "${common[@]}" --out "$RUN/generator" --init "$RUN/tokenizer/best/model.safetensors" \
  --steps "${GENERATOR_STEPS:-1000}" --resume "${opts[@]}" val_every=500 lr=${GENERATOR_LR:-4e-4} 2>&1 | tail -n 3
echo "== generator stage: $((SECONDS - start)) s"
keep generator
start=$SECONDS
# the joint stage of the shipped recipe (docs/training.md): the decoder tunes on the soft prediction and sees
# the LR at every level (a later key=value wins over the one in opts); its last checkpoint is the result (no
# best-of selection on the validation pairs)
$PY -m realiisr train "${common[@]}" --out "$RUN/joint" --init "$(last generator)" \
  --steps "${JOINT_STEPS:-1500}" --resume "${opts[@]}" tokenizer.lr_condition=pyramid \
  val_every=500 lr=${JOINT_LR:-2e-4} train_decoder=true loss_weights.ce=0.1 loss_weights.mse=250 \
  loss_weights.toc=25 2>&1 | tail -n 3
echo "== joint stage: $((SECONDS - start)) s"
keep joint
cp "$(last joint)" "$OUT/model.safetensors"
cp "$RUN/joint/run.yaml" "$OUT/run.yaml"
cp "$RUN/joint/recipe.yaml" "$OUT/recipe.yaml"
ls -la "$OUT"
