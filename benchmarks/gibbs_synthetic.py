"""Gibbs-basin decoding on the synthetic arithmetic task with a model strong enough to judge it
(issue 15): train a char-level LM of ours, choose its strength (a training snapshot) and the
decoding settings on dev, score test once.

    python -m benchmarks.gibbs_synthetic --stage data                      # train/dev/test problems
    OMP_NUM_THREADS=1 python -m benchmarks.gibbs_synthetic --model transformer &   # one core each:
    OMP_NUM_THREADS=1 python -m benchmarks.gibbs_synthetic --model attractor &     # train, pick, dev, test, (hf), score
    wait; python -m benchmarks.gibbs_synthetic --stage report              # docs/results/gibbs_synthetic.*

A model's pipeline runs the stages it has not finished yet (``--stage`` runs one and redoes it):
``train`` (train.py's harness in this process, capped by ``train.max_time_s``, keeping a snapshot
every ``snapshot_every`` steps), ``pick`` (the model's strength, chosen on dev: each snapshot
decodes the dev problems greedily and the one nearest ``target_greedy`` inside the claim's regime,
60-90% greedy, is the model every later stage uses; ``pick.json``), ``dev`` (K particles per dev
problem at each temperature of the grid), ``test`` (at the temperature chosen on dev),
``hf`` (transformer only: exported as a transformers Llama, greedy through ``HFSampler`` on the
first test problems, compared with the native greedy answers) and ``score`` (the dev choice of
temperature and Gibbs variant, then every method on test; ``result.json``). ``--preset smoke``
does the same at toy size in seconds. Outputs live under ``--out`` (default
outputs/gibbs_synthetic/); ``report`` writes the results JSON, its tables and the plots.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.compose import group_config  # noqa: E402
from attractor.decoding.config import DecodeConfig  # noqa: E402
from attractor.io import write_json, write_text  # noqa: E402
from benchmarks.gibbs.presets import PRESETS, Study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("transformer", "attractor")
STAGES = ("train", "pick", "dev", "test", "hf", "score")
TOKEN_ENERGIES = ["nll", "token_entropy", "psd_spectral_entropy", "hidden_svd_entropy"]
SOLVER_ENERGIES = ["solver_residual", "solver_iterations"]
WEIGHTS = [{"name": "inverse_power", "p": 2.0}] + [{"name": "boltzmann", "beta": b} for b in (1.0, 3.0, 10.0, 30.0, 100.0)] + [{"name": "uniform"}]


def write_data(study: Study) -> dict[str, Any]:
    """Train, dev and test problems, disjoint by question (``synthetic.write_corpus``)."""
    from benchmarks.gibbs.corpus import CorpusSpec, write_corpus

    p = study.preset
    return write_corpus(study.data, CorpusSpec(p.n_train, p.n_test, p.arithmetic, train_seed=0, eval_seed=1000,
                                               n_dev=p.n_dev, dev_seed=2000))


def corpus_meta(study: Study) -> dict[str, Any]:
    path = study.data / "corpus.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no problems yet; run --stage data first")
    return json.loads(path.read_text())


def train_overrides(study: Study, model: str) -> list[str]:
    """The train.py overrides of one model (lm_smoke preset resized; csv logs; no test evaluation)."""
    p = study.preset
    return ["experiment=lm_smoke", f"model={model}", f"task.data.inputs=[{study.data / 'train.txt'}]",
            f"task.vocab_size={corpus_meta(study)['vocab_size']}",
            f"task.data.prepare_dir={study.model_dir(model) / 'lm_data'}", f"name=gibbs_{model}", "seed=0",
            "logger=csv", "eval_after_fit=false", *p.train, *p.models[model]]


def train_model(study: Study, model: str) -> dict[str, Any]:
    """Fit the model with the training harness in this process, keeping a snapshot every
    ``snapshot_every`` steps for ``pick``; returns its metrics.json."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from attractor.compose import compose
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import datamodule_class, train

    run_dir = study.model_dir(model) / "train"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a rerun starts fresh, as the checkpoints would refuse it
    study.pick_path(model).unlink(missing_ok=True)  # chosen among the old snapshots
    overrides = train_overrides(study, model)
    run = validate_run(compose(overrides), datamodule_class("lm"))
    every = study.preset.snapshot_every
    if every == run.train.checkpoint_every_steps:  # Lightning refuses two checkpoint callbacks of one state key
        raise ValueError(f"snapshot_every: {every} equals train.checkpoint_every_steps; choose another interval")
    keep = ModelCheckpoint(dirpath=study.snapshot_dir(model), filename="step{step:05d}", auto_insert_metric_name=False,
                           every_n_train_steps=every, save_top_k=-1)
    result = train(run, run_dir, callbacks=[keep])
    write_json(run_dir / "overrides.json", overrides)
    return result.metrics


def val_loss_curve(run_dir: Path) -> list[dict[str, float]]:
    """Validation loss (nats/char) at every validation of the run (the CSV logger's rows), to say
    whether training had flattened when the time cap stopped it."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return []
    with path.open() as fh:
        return [{"step": int(r["step"]), "val_loss": float(r["val/loss"])} for r in csv.DictReader(fh) if r.get("val/loss")]


def snapshots(study: Study, model: str) -> dict[int, Path]:
    """The training snapshots by step (``step00100.ckpt`` -> 100)."""
    found = dict(sorted((int(p.stem.removeprefix("step")), p) for p in study.snapshot_dir(model).glob("step*.ckpt")))
    if not found:
        raise FileNotFoundError(f"{study.snapshot_dir(model)}: no snapshots; run --stage train")
    return found


def pick_strength(study: Study, model: str) -> dict[str, Any]:
    """Decode the dev problems greedily with every snapshot and choose the one whose accuracy is
    nearest ``target_greedy`` within the claim's regime (``study.pick_snapshot``); ``pick.json``."""
    from benchmarks.gibbs.study import pick_snapshot
    from benchmarks.gibbs.evaluate import greedy_accuracy

    cfg = decode_config(study, model, 1.0)
    paths = snapshots(study, model)
    accuracies, seconds = {}, {}
    for step, path in paths.items():
        start = time.perf_counter()
        accuracies[step] = greedy_accuracy(path, study.data, cfg, split="dev")
        seconds[step] = time.perf_counter() - start
        print(f"[{model}] pick: step {step} dev greedy {accuracies[step]:.3f} ({seconds[step]:.1f} s)", flush=True)
    choice = pick_snapshot(accuracies, study.preset.target_greedy)
    out = {**choice, "checkpoint": str(paths[choice["step"]].relative_to(study.out)),
           "n_dev": corpus_meta(study)["spec"]["n_dev"],
           "snapshots": [{"step": s, "dev_greedy": a, "seconds": seconds[s]} for s, a in accuracies.items()]}
    write_json(study.pick_path(model), out)
    return out


def checkpoint(study: Study, model: str) -> Path:
    """The snapshot ``pick`` chose: the model every stage after it decodes with."""
    path = study.pick_path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no snapshot picked yet; run --stage pick")
    ckpt = study.out / json.loads(path.read_text())["checkpoint"]
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: the picked snapshot is missing; run --stage train, then --stage pick")
    return ckpt


def decode_config(study: Study, model: str, temperature: float) -> DecodeConfig:
    """configs/decode/synthetic.yaml with the study's K, energies, weight grid and hidden layer
    (``final_norm``: the state the head reads, in both models)."""
    p = study.preset
    energies = TOKEN_ENERGIES + (SOLVER_ENERGIES if model == "attractor" else [])
    return group_config(DecodeConfig, "decode", "synthetic", k=p.k, temperature=temperature, energies=energies,
                        weights=WEIGHTS, hidden_module="final_norm", questions_per_batch=p.questions_per_batch,
                        max_new_tokens=p.max_new_tokens, stop=[])


def dev_dir(study: Study, model: str, temperature: float) -> Path:
    return study.model_dir(model) / f"dev_T{temperature:g}"


def decode(study: Study, model: str, split: str, temperature: float, out: Path) -> dict[str, Any]:
    from benchmarks.gibbs.evaluate import decode_split

    return decode_split(checkpoint(study, model), study.data, decode_config(study, model, temperature), out, split=split)


def dev_choice(study: Study, model: str) -> dict[str, Any]:
    """The temperature and per-K Gibbs labels chosen on the dev runs (test is never read here)."""
    from attractor.decoding.runner import read_records
    from benchmarks.gibbs.study import choose_on_dev

    dev = {}
    for t in study.preset.temperatures:
        if not (dev_dir(study, model, t) / "summary.json").is_file():
            raise FileNotFoundError(f"{dev_dir(study, model, t)}: dev decoding missing; run --stage dev")
        dev[t] = list(read_records(dev_dir(study, model, t)))
    return choose_on_dev(dev, study.preset.ks, decode_config(study, model, 1.0).weights)


def hf_agreement(study: Study, model: str) -> dict[str, Any]:
    """The exported Llama's greedy answers against the native ones on the first test problems."""
    from attractor.decoding.runner import read_records
    from benchmarks.gibbs.evaluate import hf_greedy_agreement

    records = list(read_records(study.model_dir(model) / "test"))[: study.preset.hf_problems]
    return hf_greedy_agreement(checkpoint(study, model), records, study.model_dir(model) / "hf",
                               study.preset.max_new_tokens)


def score(study: Study, model: str) -> dict[str, Any]:
    """The model's result: dev choice, test block, cloud statistics, training and timings."""
    from attractor.decoding.analysis import particle_energies
    from attractor.decoding.plots import plot_accuracy_vs_k
    from attractor.decoding.runner import read_records
    from attractor.particles.plots import plot_energy_histograms
    from benchmarks.gibbs.study import particle_stats, score_test

    mdir = study.model_dir(model)
    choice = dev_choice(study, model)
    test_summary = json.loads((mdir / "test" / "summary.json").read_text())
    if test_summary["config"]["temperature"] != choice["temperature"]:
        raise ValueError(f"{mdir / 'test'} was decoded at T={test_summary['config']['temperature']} but dev chose "
                         f"T={choice['temperature']}: rerun --stage test")
    records = list(read_records(mdir / "test"))
    weights = decode_config(study, model, choice["temperature"]).weights
    result = score_test(records, study.preset.ks, weights, choice)
    curves = {m: {int(k): result["k"][k]["methods"][m]["acc"] for k in result["k"]}
              for m in result["k"][str(study.preset.ks[0])]["methods"]
              if not m.startswith("gibbs[") or "inverse_power" in m}
    curves["gibbs (dev choice)"] = {int(k): v["gibbs_dev_choice"]["acc"] for k, v in result["k"].items()}
    plot_accuracy_vs_k(curves, mdir / "accuracy_vs_k.png")
    plot_energy_histograms(*particle_energies(records), mdir / "energy_histograms.png")
    metrics = json.loads((mdir / "train" / "metrics.json").read_text())
    hf = mdir / "hf" / "agreement.json"
    result |= {
        "model": model,
        "parameters": metrics["parameters"],
        "training": {**{k: metrics[k] for k in ("steps", "train_time_s", "train_cpu_time_s", "final")},
                     "val_loss_curve": val_loss_curve(mdir / "train")},
        "dev_choice": {**choice, "labels": {str(k): v for k, v in choice["labels"].items()}},
        "snapshot_pick": json.loads(study.pick_path(model).read_text()),
        "particles": particle_stats(records),
        "decoding": {s: json.loads((d / "summary.json").read_text())["wall_s"]
                     for s, d in [("test", mdir / "test")] + [(f"dev_T{t:g}", dev_dir(study, model, t))
                                                               for t in study.preset.temperatures]},
        "hf_native_greedy_agreement": json.loads(hf.read_text())["answer_agreement"] if hf.is_file() else None,
        "hf": json.loads(hf.read_text()) if hf.is_file() else None,
    }
    write_json(study.result_path(model), result)
    return result


def run_stage(study: Study, model: str, stage: str) -> None:
    mdir = study.model_dir(model)
    start = time.perf_counter()
    if stage == "train":
        train_model(study, model)
    elif stage == "pick":
        choice = pick_strength(study, model)
        print(f"[{model}] picked step {choice['step']}: dev greedy {choice['dev_greedy']:.3f}"
              f"{'' if choice['in_range'] else ' (none in range)'}", flush=True)
    elif stage == "dev":
        for t in study.preset.temperatures:
            summary = decode(study, model, "dev", t, dev_dir(study, model, t))
            methods = summary["methods"]
            print(f"[{model}] dev T={t:g}: greedy {methods['greedy']['accuracy']:.3f}, "
                  f"majority@{study.preset.k} {methods['majority']['accuracy']:.3f}", flush=True)
    elif stage == "test":
        decode(study, model, "test", dev_choice(study, model)["temperature"], mdir / "test")
    elif stage == "hf":
        hf_agreement(study, model)
    else:
        score(study, model)
    print(f"[{model}] {stage}: {time.perf_counter() - start:.1f} s", flush=True)


def stage_done(study: Study, model: str, stage: str) -> bool:
    mdir = study.model_dir(model)
    return {
        "train": (mdir / "train" / "metrics.json").is_file(),
        "pick": study.pick_path(model).is_file(),
        "dev": all((dev_dir(study, model, t) / "summary.json").is_file() for t in study.preset.temperatures),
        "test": (mdir / "test" / "summary.json").is_file(),
        "hf": model != "transformer" or (mdir / "hf" / "agreement.json").is_file(),
        "score": study.result_path(model).is_file(),
    }[stage]


def run_pipeline(study: Study, model: str, stage: str | None = None) -> None:
    """One stage (redone), or every stage not yet finished, in order."""
    if stage is not None:
        if stage == "hf" and model != "transformer":
            raise ValueError(f"stage hf: only the transformer exports as a Llama, not {model!r}")
        run_stage(study, model, stage)
        return
    for s in STAGES:
        if not stage_done(study, model, s):
            run_stage(study, model, s)


def report(study: Study, results: Path) -> dict[str, Any]:
    """The results JSON (the transformer's block at the top level, as the issue's schema asks; the
    attractor LM's under ``attractor``), its Markdown tables and the plots, beside ``results``."""
    from benchmarks.gibbs.study import render_tables

    blocks = {m: json.loads(study.result_path(m).read_text()) for m in MODELS if study.result_path(m).is_file()}
    if "transformer" not in blocks:
        raise FileNotFoundError(f"{study.result_path('transformer')}: the transformer pipeline has not been scored")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = {
        **blocks["transformer"],
        "attractor": blocks.get("attractor"),
        "problems": corpus_meta(study)["spec"],
        "preset": {k: v for k, v in dataclasses.asdict(study.preset).items() if k != "arithmetic"},
        "provenance": {"commit": commit, "machine": platform.processor() or platform.machine(),
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "out": str(study.out)},
    }
    write_json(results, out)
    prov = out["provenance"]
    header = (f"<!-- generated by `python -m benchmarks.gibbs_synthetic --stage report` at commit {prov['commit']}, "
              f"{prov['date']}, machine {prov['machine']}; one training seed (0), sampling seed 0 -->\n\n")
    tables = header + "".join(render_tables(b, m) + "\n" for m, b in blocks.items())
    write_text(results.with_name(results.stem + "_tables.md"), tables)
    for m in blocks:
        for fig in ("accuracy_vs_k", "energy_histograms"):
            shutil.copyfile(study.model_dir(m) / f"{fig}.png", results.with_name(f"{results.stem}_{m}_{fig}.png"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gibbs_synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--out", type=Path, help="study folder (default outputs/gibbs_synthetic[_smoke])")
    parser.add_argument("--model", choices=MODELS, help="run this model's pipeline")
    parser.add_argument("--stage", choices=("data", *STAGES, "report"), help="run (redo) only this stage")
    parser.add_argument("--steps", type=int, help="arithmetic steps per problem instead of the preset's "
                        "(use a fresh --out: the problems change)")
    parser.add_argument("--results", type=Path, default=ROOT / "docs/results/gibbs_synthetic.json",
                        help="report: the results JSON (tables and plots go beside it)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "outputs" / ("gibbs_synthetic" if args.preset == "full" else f"gibbs_synthetic_{args.preset}")
    preset = PRESETS[args.preset]
    if args.steps is not None:
        preset = dataclasses.replace(preset, arithmetic=dataclasses.replace(preset.arithmetic, steps=args.steps))
    study = Study(out, preset)
    if args.stage == "data":
        print(json.dumps(write_data(study), indent=2))
    elif args.stage == "report":
        result = report(study, args.results)
        print(json.dumps({k: result[k] for k in ("n_test", "greedy", "hf_native_greedy_agreement")}, indent=2))
    elif args.model is None:
        parser.error("--model is required for the model stages (or give --stage data / --stage report)")
    else:
        if not (study.data / "corpus.json").is_file():
            write_data(study)
        run_pipeline(study, args.model, args.stage)


if __name__ == "__main__":
    main()
