#!/usr/bin/env bash
# Attractor vs looped vs transformer on generated 6x6 Sudoku (8 blanks), on CPU: same data, ~equal
# parameters (four distinct blocks of width 64 each), the same compute budget per run (process CPU
# seconds, one thread: equal wall-clock on a quiet machine, still fair on a shared one), 3 seeds;
# the attractor uses the published puzzle recipe's solver (Anderson, last-2 backprop, Jacobian
# penalty). Then the comparison table. Usage: bash benchmarks/puzzle_comparison.sh [SECONDS] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-180}
out=${2:-docs/results/puzzle_comparison_cpu}
py=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=disabled
common=(logger=csv optim.schedule=constant train.max_steps=100000 "train.max_cpu_time_s=$budget"
        task.data.blanks=8 model.dim=64 model.n_heads=4
        train.val_every_steps=100 train.checkpoint_every_steps=100 train.val_max_items=200)
declare -A arch=(
  [attractor]="model=attractor model.backbone_layers=2 model.f_layers=2 solver=last_k"
  [looped]="model=looped model.prelude_layers=2 model.core_layers=2 model.loops=4"
  [transformer]="model=transformer model.n_layers=4"
)
dirs=()
for seed in 0 1 2; do
  for m in attractor looped transformer; do  # the three models of a seed run side by side
    name="cmp6x6-$m-s$seed"
    # shellcheck disable=SC2086
    $py train.py ${arch[$m]} "seed=$seed" "name=$name" "${common[@]}" > "outputs/$name.log" 2>&1 &
    dirs+=("outputs/$name")
  done
  wait
done
$py -m attractor.evaluation.compare "${dirs[@]}" --out "$out.md"
