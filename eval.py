"""Evaluate a checkpoint: `python eval.py ckpt=outputs/RUN/checkpoints/last.ckpt [external=[...]]`.

Scores the full test set in every inference mode (solver removed, fixed depths, adaptive) and
writes eval.json and accuracy_vs_iterations.png next to the checkpoint's run.
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from attractor.config import register_resolvers

register_resolvers()


@hydra.main(config_path="configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from attractor.evaluation.puzzle import evaluate_checkpoint

    args = OmegaConf.to_container(cfg, resolve=True)
    ckpt = Path(args.pop("ckpt"))
    out_dir = args.pop("out_dir") or ckpt.parent.parent
    report = evaluate_checkpoint(ckpt, out_dir, **args)
    for row in report["sweep"]:
        lo, hi = row["exact_ci95"]
        print(f"{row['mode']:>9}  exact {row['exact_acc']:.3f} [{lo:.3f}, {hi:.3f}]  cell {row['cell_acc']:.3f}"
              f"  iters {row['mean_iterations']:.1f}  (n={row['n_items']})")
    for name, row in report["external"].items():
        print(f"{name}: exact {row['exact_acc']:.3f} on {row['n_items']} puzzles")
    print(f"wrote {Path(out_dir) / 'eval.json'}")


if __name__ == "__main__":
    main()
