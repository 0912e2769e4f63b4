#!/usr/bin/env bash
# The trust matrix on the GPU machine, in under 10 minutes: every preset x {fp32, bf16-mixed} x
# {eager, compiled} on one GPU (2 ranks need 2 GPUs: add `--ranks 1 2` where there are).
# Prepare the wheels here first: bash ../shared/tools/gpu-wheels.sh; then, through the device tool
# (carry .whl):  bash scripts/gpu_trust_matrix.sh "$OUT"
set -euo pipefail
out=${1:?usage: gpu_trust_matrix.sh OUT_DIR}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/gpu.txt"
python3 -m benchmarks.trust_matrix --json "$out/trust_matrix_gpu.json" --ranks 1 --timeout 150 --budget 420 \
  | tee "$out/trust_matrix_gpu.md"
