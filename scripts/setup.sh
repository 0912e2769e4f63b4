#!/usr/bin/env bash
# Create .venv with the CPU build of torch 2.13.0 first (a bare `pip install torch` would pull a
# multi-GB CUDA build), then the package with its test, Hugging Face, cluster (submitit) and
# evaluation (lm-evaluation-harness) extras.
# GPU users: TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
if ! "$py" -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  "$py" -m pip install -q $TORCH_SPEC
fi
"$py" -m pip install -q -e ".[dev,hf,cluster,eval]"
