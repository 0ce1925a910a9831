#!/usr/bin/env bash
# The GPU checks in one call (for a lent CUDA machine whose python3 already holds torch, pytest and
# pytest-benchmark): build the extension for the visible GPU, run the CUDA tests, then the CUDA benchmarks.
# Every step runs even if an earlier one failed; logs and JSON go to $OUT (default ./device-out).
#   bash benchmarks/device_check.sh [build|tests|errors|overheads|ops|memcheck|model|train|all]...   (default: all)
# REALIISR_REUSE_BUILD=1 keeps a realiisr/_C*.so already built there.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
PY=${PYTHON:-python3}
steps=${*:-all}
want() { [[ " $steps " == *" all "* || " $steps " == *" $1 "* ]]; }
status=0
run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  ((rc)) && status=1
  echo "== $name: rc=$rc in $((SECONDS - start)) s"
  tail -n 4 "$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
$PY -c "import torch, sys; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0))"

arch=$($PY -c "import torch; print('.'.join(map(str, torch.cuda.get_device_capability(0))))")
# The lent machines set CC/CXX to a gcc under /opt whose libstdc++ pieces end up inside the extension: every
# error message built there (an ostream) crashed the process (seen 2026-11-27). The system gcc builds one
# whose errors are plain RuntimeErrors (tests/ops/test_op_errors_in_subprocess.py).
if [[ -x /usr/bin/g++ && -x /usr/bin/gcc && -z ${REALIISR_KEEP_CC:-} ]]; then export CC=/usr/bin/gcc CXX=/usr/bin/g++; fi
if want build && [[ ${REALIISR_REUSE_BUILD:-0} != 1 ]]; then
  run build 240 env REALIISR_WITH_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="$(nproc)" $PY setup.py build_ext --inplace
fi
$PY -c "import realiisr.ops as o; s = o.extension_state(); print('extension:', s.loaded, s.reason, o.build_info() if s.loaded else '')"

bench=(--benchmark --benchmark-columns=min,median,iqr,rounds --benchmark-sort=name -p no:cacheprovider)
if want tests; then
  run tests 150 $PY -m pytest -q -p no:cacheprovider tests/ops tests/model/test_scale_graphs.py -k "cuda and not subprocess" -rs
fi
if want errors; then
  run errors 120 $PY -m pytest -q -p no:cacheprovider tests/ops/test_op_errors_in_subprocess.py
fi
if want overheads; then
  run overheads 120 $PY benchmarks/op_overheads.py
  cat "$OUT/overheads.log"
fi
if want ops; then
  run bench_ops 180 $PY -m pytest "${bench[@]}" -k "cuda ${BENCH_FILTER:-}" --benchmark-json="$OUT/bench_ops.json" \
    benchmarks/bench_cac.py benchmarks/bench_toc_loss.py benchmarks/bench_scale_attention.py
fi
if want memcheck && command -v compute-sanitizer >/dev/null; then
  run memcheck 100 compute-sanitizer --tool memcheck --error-exitcode 9 $PY -m pytest -q -p no:cacheprovider \
    tests/ops/test_cac_embedding.py tests/ops/test_toc_loss.py -k "cuda and (deterministic or never_reads or match_reference)"
fi
if want model; then
  run bench_model 300 $PY -m pytest "${bench[@]}" -k "cuda or inference" --benchmark-json="$OUT/bench_model.json" \
    benchmarks/bench_upscale.py benchmarks/bench_model.py
fi
if want train; then  # the 1.1 B training step: bf16, batch 4, with/without activation checkpointing, flex attention
  for extra in "" "--checkpointing" "--attention flex" "--checkpointing --attention flex"; do
    run "train_step${extra// /_}" 150 $PY benchmarks/train_step.py --recipe real_iisr_x4 --batch 4 $extra
  done
  run train_max_batch 150 $PY benchmarks/train_step.py --recipe real_iisr_x4 --batch 4 --checkpointing --find-max-batch
  cat "$OUT"/train_*.log | grep '^{' || true
fi
jsons=("$OUT"/bench_*.json)
if [[ -e ${jsons[0]} ]]; then
  $PY benchmarks/summarize.py "${jsons[@]}"
  $PY benchmarks/summarize.py --markdown "${jsons[@]}" >"$OUT/tables.md"  # for docs/benchmarks.md
fi
exit $status
