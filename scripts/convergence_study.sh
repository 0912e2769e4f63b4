#!/usr/bin/env bash
# The convergence study (issue 24, docs/results/convergence_cpu.md): attractor recipes at the three
# study shapes, screened on seed 0's validation, the chosen one trained on seeds 1-3.
# Usage: bash scripts/convergence_study.sh RUN...   (RUN: shape-recipe-sSEED, e.g. ladder-jac10-s1)
# Every run: one thread, outputs/convergence/RUN/ (train log, metrics.json, eval/eval.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
OUT=outputs/convergence
LADDER=(task.data.size=6 'task.data.blanks=[6,26]' 'task.data.train_depths=[1,2,3]' 'task.data.test_depths=[1,2,3,4,5,6,-1]'
        task.data.n_train=3000 task.data.n_val=300 task.data.n_test=1050 task.batch_size=32 model.dim=32 model.n_heads=2
        optim.lr=3e-3 optim.warmup_steps=25 model.backbone_layers=1 model.f_layers=1 train.max_steps=4000
        train.val_every_steps=200 train.checkpoint_every_steps=1000 eval_after_fit=false)
LM=(experiment=lm_ref model.dim=96 model.n_heads=4 train.max_steps=1000 train.val_every_steps=50
    train.checkpoint_every_steps=1000 train.val_max_items=256)
REF=(model=attractor_ref solver=reference_lm)
declare -A RECIPE=(
  [ladder-puzzle]="model=attractor solver=last_k"                       # the ladder study's recipe
  [ladder-ref]="${REF[*]} solver.adjoint_clip=false"                    # the reference recipe as the ladder ran it
  [ladder-jac10]="${REF[*]} solver.max_iter=30 solver.jac_reg_weight=10"
  [ladder-jac1lr1]="${REF[*]} solver.max_iter=30 solver.jac_reg_weight=1 optim.lr=1e-3"
  [ladder-jac10it50]="${REF[*]} solver.max_iter=50 solver.jac_reg_weight=10"
  [ladder-jac30]="${REF[*]} solver.max_iter=30 solver.jac_reg_weight=30"
  [default-today]=""                                                    # python train.py before this study
  [default-contractive]="model=attractor_ref solver=contractive"    # = ladder-jac10's recipe, as a preset
  [lm-ref12]="solver.adjoint_clip=false"                               # the LM study's recipe
  [lm-clip30]="solver.max_iter=30"
  [lm-contractive]="solver=contractive"
)
run() {
  local name=$1 shape=${1%%-*} key=${1%-s*} seed=${1##*-s} dir=$OUT/$1
  [ -f "$dir/metrics.json" ] && { echo "$name: done"; return; }
  rm -rf "$dir"; mkdir -p "$dir"
  local base=(); case $shape in ladder) base=("${LADDER[@]}");; lm) base=("${LM[@]}");; esac
  # shellcheck disable=SC2086
  .venv/bin/python train.py "${base[@]}" ${RECIPE[$key]} logger=csv seed="$seed" name="$name" hydra.run.dir="$dir" \
    > "$dir/train.log" 2>&1
  if [ "$shape" != default ]; then  # the default job evaluates itself (the full sweep)
    .venv/bin/python eval.py ckpt="$dir/checkpoints/best.ckpt" "modes=[none,solver]" out_dir="$dir/eval" > "$dir/eval.log" 2>&1
  fi
  echo "$name: finished"
}
for name in "$@"; do run "$name"; done
