"""Evaluate a checkpoint: `python eval.py ckpt=outputs/RUN/checkpoints/last.ckpt [external=[...]]`.

Puzzles: the full test set in every inference mode (solver removed, fixed depths, adaptive), written
to eval.json and accuracy_vs_iterations.png next to the checkpoint's run; with `action=scale`,
test-time scaling along depth and breadth (docs/scaling.md) to RUN/scaling/. Language models: the
whole held-out test split in every mode (perplexity, bits per byte) to eval.json and
ppl_vs_iterations.png (`split=val`: the val split training validates on); or, with
`action=sample prompt=...`, a sampled continuation. `action=export out=DIR`: the model as
model.safetensors + config.json for `attractor.from_pretrained(DIR)`, or with `format=llama` as a
transformers LlamaForCausalLM folder (causal transformers only); docs/sharing.md. `action=lm_eval
tasks=[...]`: a language model (checkpoint or export folder) on lm-evaluation-harness tasks in every
mode, to lm_eval.json beside eval.json (docs/lm.md).
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from attractor.compose import register

register()

SAMPLE_KEYS = ("prompt", "max_new_tokens", "temperature", "top_k", "top_p", "seed", "mode")
# Options only one kind of checkpoint reads: the values that leave them unset, and what they are for.
PUZZLE_ONLY = {"external": (([],), "external test sets are Sudoku lists"),
               "test_data": ((None,), "overrides a puzzle generator"),
               "segments": ((None, 1), "deep supervision is a puzzle recipe")}
LM_ONLY = {"split": (("test",), "chooses a language model's corpus split")}
LM_EVAL_ONLY = {"tasks": (([],), "names lm-evaluation-harness tasks (action=lm_eval)"),
                "task_paths": (([],), "adds task folders to the harness (action=lm_eval)"),
                "num_fewshot": ((None,), "sets the harness's few-shot examples (action=lm_eval)")}


def refuse_unused(args: dict, options: dict, context: str) -> None:
    """Drop ``options`` from ``args``, refusing any set to a value this checkpoint would ignore."""
    for key, (unset, purpose) in options.items():
        if args.pop(key) not in unset:
            raise ValueError(f"{key}: {purpose}; {context}")


def evaluate_puzzle(ckpt: Path, out_dir: Path, args: dict) -> None:
    from attractor.evaluation.puzzle import evaluate_checkpoint

    refuse_unused(args, LM_ONLY, "a puzzle checkpoint is scored on its test set")
    report = evaluate_checkpoint(ckpt, out_dir, **args)
    print(f"{report['weights']} weights")
    for row in report["sweep"]:
        lo, hi = row["exact_ci95"]
        print(f"{row['mode']:>9}  exact {row['exact_acc']:.3f} [{lo:.3f}, {hi:.3f}]  cell {row['cell_acc']:.3f}"
              f"  iters {row['mean_iterations']:.1f}  (n={row['n_items']})")
    for name, row in report["external"].items():
        print(f"{name}: exact {row['exact_acc']:.3f} on {row['n_items']} puzzles")


def evaluate_lm(ckpt: Path, out_dir: Path, args: dict) -> None:
    from attractor.evaluation.lm import evaluate_lm_checkpoint

    refuse_unused(args, PUZZLE_ONLY, "this is a language-model checkpoint")
    report = evaluate_lm_checkpoint(ckpt, out_dir, **args)
    print(f"{report['weights']} weights")
    for row in report["sweep"]:
        print(f"{row['mode']:>9}  loss {row['loss']:.4f}  ppl {row['ppl']:.3f}  bpb {row['bpb']:.4f}"
              f"  iters {row['mean_iterations']:.1f}  (n={row['n_tokens']} tokens)")


def export(ckpt: Path, args: dict) -> None:
    """Write the checkpoint's model (``weights``: ema or raw) for sharing, as ``format``: attractor | llama."""
    from attractor.hub import export_checkpoint

    if not args["out"]:
        raise ValueError("out: action=export needs the folder to write, e.g. out=exports/my-model")
    pretrained = export_checkpoint(ckpt, args["out"], args["weights"], args["format"])
    print(f"wrote {args['out']} ({args['format']} format, {pretrained.weights} weights)")


def lm_eval(ckpt: Path, args: dict) -> None:
    """The harness's ``tasks`` in every mode of ``modes``, for a checkpoint or an export folder."""
    from attractor.evaluation.lm_harness_run import format_table, run_harness

    refuse_unused(args, PUZZLE_ONLY, "action=lm_eval scores language models")
    refuse_unused(args, LM_ONLY, "action=lm_eval scores the harness's tasks")
    if args["mode"] is not None:
        raise ValueError("mode: chooses action=sample's mode; action=lm_eval scores every mode of modes=[...]")
    out_dir = Path(args["out_dir"] or (ckpt if ckpt.is_dir() else ckpt.parent.parent))
    report = run_harness(ckpt, args["tasks"], out_dir, args["modes"], args["task_paths"], args["max_items"],
                         args["num_fewshot"], args["batch_size"], args["device"], args["weights"],
                         args["expect_model"])
    print(format_table(report))
    print(f"wrote {out_dir / 'lm_eval.json'}")


def sample_lm(ckpt: Path, args: dict, expect_model: str | None, device: str | None, weights: str | None) -> None:
    from attractor.evaluation.lm import load_lm, sample

    _, model, tokenizer = load_lm(ckpt, expect_model, weights)
    gen = sample(model, tokenizer, device=device or "cpu", **args)
    print(gen.prompt + gen.text)
    print(f"[{len(gen.token_ids)} tokens in {gen.seconds:.2f} s: {gen.ms_per_token:.1f} ms/token]")


@hydra.main(config_path="configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from attractor.evaluation.checkpoint import load_checkpoint

    args = OmegaConf.to_container(cfg, resolve=True)
    ckpt, action = Path(args["ckpt"]), args.pop("action")
    solver = {k: v for k, v in args.pop("solver").items() if v is not None}
    if solver and action != "evaluate":
        raise ValueError(f"solver: changes the solve eval.py scores (action=evaluate), not action={action}")
    if action == "lm_eval":
        lm_eval(ckpt, args)
        return
    refuse_unused(args, LM_EVAL_ONLY, f"action={action} does not run the harness")
    if action == "scale":
        from attractor.evaluation.scaling.run import run_from_config, summary

        refuse_unused(args, LM_ONLY, "action=scale scores a puzzle test set")
        print(summary(run_from_config(args)))
        return
    if action == "export":
        export(ckpt, args)
        return
    for key in ("ckpt", "scaling", "out", "format"):
        del args[key]
    task = load_checkpoint(ckpt)[0].task.name
    sampling = {k: args.pop(k) for k in SAMPLE_KEYS}
    out_dir = Path(args.pop("out_dir") or ckpt.parent.parent)
    if action == "sample":
        if task != "lm":
            raise ValueError(f"action=sample: {ckpt} is a {task!r} checkpoint, not a language model")
        sample_lm(ckpt, sampling, args["expect_model"], args["device"], args["weights"])
        return
    if action != "evaluate":
        raise ValueError(f"action: {action!r} is not one of 'evaluate', 'sample', 'scale', 'export', 'lm_eval'")
    (evaluate_lm if task == "lm" else evaluate_puzzle)(ckpt, out_dir, {**args, "solver": solver})
    print(f"wrote {out_dir / 'eval.json'}")


if __name__ == "__main__":
    main()
