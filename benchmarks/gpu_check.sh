#!/usr/bin/env bash
# GPU throughput check of the reference trainer (benchmarks/bench_gpu.py, Qwen2-VL-2B shape), offline.
# From the repo root on the GPU machine, with .gpu_wheels/ carried along: bash benchmarks/gpu_check.sh
set -eo pipefail
OUT=${OUT:-$PWD/gpu_out}; mkdir -p "$OUT"
PY=${PY:-python3}
# pydantic, rapidfuzz, math-verify and their deps from the wheels; pip keeps what is installed
# (typing_extensions is upgraded only if the installed one is older than pydantic needs)
# (.gpu_wheels is made beforehand where there is an index, e.g. `pip download --only-binary=:all:
# --python-version 3.12 --no-deps -d .gpu_wheels ...`; without it the packages must be installed)
if [ -d .gpu_wheels ] && ! $PY -m pip install -q --no-index --find-links .gpu_wheels pydantic==2.14.4 \
    rapidfuzz==3.14.6 math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2; then
  echo "pip install failed: unpacking the wheels onto PYTHONPATH instead"
  for w in .gpu_wheels/*.whl; do $PY -m zipfile -e "$w" /tmp/gpu_site; done
  export PYTHONPATH=/tmp/gpu_site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
$PY -m pip list 2>/dev/null > "$OUT/pip_list.txt" || true
$PY -c "import pydantic, rapidfuzz, math_verify, stepreward.trl, reference_trainer.grpo; print('imports ok')"
timeout -k 10 420 $PY benchmarks/bench_gpu.py --size 2b --steps 5 --warmup 2 --out "$OUT/bench_gpu.json" 2>&1 \
  | tee "$OUT/log.txt"
