"""Train a model from configs: `python train.py [group=choice ...] [key=value ...]`.

With no arguments: the default experiment (a small attractor on generated Sudoku, CPU, minutes),
then an evaluation of it on the full test set (``eval_ckpt``, ``eval_modes``). Resume with
`ckpt_path=last`; `ckpt_path=auto` resumes if there is a checkpoint and skips a run trained before
(what a relaunched study sweep wants: configs/study/).
"""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from attractor.compose import register

register()


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    import json
    from pathlib import Path

    from lightning.pytorch.utilities import rank_zero_only

    from attractor.evaluation.lm import evaluate_lm_checkpoint
    from attractor.evaluation.puzzle import evaluate_checkpoint
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import CHECKPOINTS, datamodule_class, train

    run = validate_run(cfg, datamodule_class(cfg.task.name))
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    study_job = run.ckpt_path == "auto"  # a relaunched study sweep: skip what this job already did
    if study_job and (run_dir / "metrics.json").exists():
        print(f"{run_dir}: trained before (metrics.json), not trained again")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        last = run_dir / CHECKPOINTS / "last.ckpt"
    else:
        result = train(run, run_dir)
        metrics, last = result.metrics, result.last_checkpoint
        print(f"checkpoints: {last.parent}")
        print(f"metrics:     {run_dir / 'metrics.json'}")
    if rank_zero_only.rank != 0:
        return  # one evaluation per run, not one per process of a multi-GPU or multi-node run
    ckpt = last if run.eval_ckpt == "last" else last.parent / "best.ckpt"
    if run.eval_after_fit and metrics and ckpt.exists() and not (study_job and (run_dir / "eval.json").exists()):
        evaluate = evaluate_lm_checkpoint if run.task.name == "lm" else evaluate_checkpoint
        report = evaluate(ckpt, run_dir, modes=run.eval_modes)
        solver_row = next(row for row in report["sweep"] if row["mode"] == "solver")
        figures = ", ".join(f"{k} {v:.3f}" for k, v in solver_row.items() if k in ("exact_acc", "cell_acc", "ppl", "bpb"))
        print(f"evaluation:  {run_dir / 'eval.json'} of {ckpt.name} ({figures}; every inference mode is in the file)")
        print(f"plot:        {run_dir / report['plot']}")

if __name__ == "__main__":
    main()
