"""Run a study and write its page; rebuild the claims from every study.

    python -m attractor.studies run lm40            # screen, select, report seeds, page (resumable)
    python -m attractor.studies run lm40 --dry-run  # print the train.py sweeps it would launch
    python -m attractor.studies select lm40         # configs/selected/lm40/<arm>.yaml from the screening
    python -m attractor.studies report lm40         # docs/results/study_lm40.{md,json,png} from the jobs' files
    python -m attractor.studies claims              # docs/results/claims.md from every study_*.json

A study is its configs (``configs/study/<study>/``: one file per arm and ``report.yaml``); its jobs
are ``python train.py -m`` sweeps through the local submitit launcher, ``--jobs`` at a time, each one
thread, into ``outputs/study/<study>/<arm>-lr<lr>-<init>-s<seed>/``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from attractor.io import write_json, write_text
from attractor.studies.claims import build_claims
from attractor.studies.page import plot_curves, render
from attractor.studies.report import reported, summarise
from attractor.studies.runs import read_study
from attractor.studies.spec import CONFIGS, StudySpec, load_spec

ROOT = CONFIGS.parent
OUTPUTS = ROOT / "outputs" / "study"
RESULTS = ROOT / "docs" / "results"
MACHINE = "the project's 2-core CPU (AMD EPYC, no GPU), one thread per job"


def sweep(spec: StudySpec, seeds: list[int], jobs: int, screen: bool) -> list[str]:
    """The ``train.py -m`` command of the screening (every arm x the grid, test untouched) or of the
    reported seeds (every arm at its selected setting, then scored on test)."""
    grid = [f"{k}={','.join(map(str, v))}" for k, v in spec.grid.items()] if screen else []
    # arm-major: Hydra's launcher waits for each batch of ``jobs``, so a batch holds trials of one arm (alike in cost)
    return [sys.executable, "train.py", "-m", f"study={','.join(f'{spec.name}/{a}' for a in spec.arms)}", *grid,
            f"seed={','.join(map(str, seeds))}", *(["eval_after_fit=false"] if screen else []),
            "hydra/launcher=local", f"hydra.sweeper.max_batch_size={jobs}", f"hydra.sweep.dir={OUTPUTS}"]


def select(spec: StudySpec, arms: list[str] | None = None) -> dict[str, dict]:
    """Write each arm's chosen setting as ``configs/selected/<study>/<arm>.yaml`` (what the reported
    seeds then compose: ``train.yaml``'s ``optional selected: ${study}``); return the choices.
    ``arms``: only these (an arm's choice depends on its own trials alone)."""
    summary = summarise(spec, read_study(OUTPUTS / spec.name))
    commit = git_commit()
    for arm, s in summary["screening"].items():
        if arms and arm not in arms:
            continue
        if s["chosen"] is None:
            raise RuntimeError(f"{spec.name}/{arm}: no finished screening trial on seed {spec.screen_seed}")
        nested: dict = {}
        for key, value in s["chosen"]["settings"].items():
            *parents, leaf = key.split(".")
            node = nested
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        body = "".join(f"{group}: {{{', '.join(f'{k}: {v}' for k, v in fields.items())}}}\n" for group, fields in nested.items())
        write_text(CONFIGS / "selected" / spec.name / f"{arm}.yaml",
                   f"# @package _global_\n# {spec.name}/{arm}: chosen on seed {spec.screen_seed}'s validation by "
                   f"`python -m attractor.studies select {spec.name}` (commit {commit}); every trial: "
                   f"docs/results/study_{spec.name}.md\n{body}")
    return {arm: s["chosen"] for arm, s in summary["screening"].items() if not arms or arm in arms}


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def report(spec: StudySpec) -> dict:
    """The study's JSON, page and plot under docs/results/ from its jobs' files alone."""
    jobs = read_study(OUTPUTS / spec.name)
    summary = summarise(spec, jobs, flops=True)
    provenance = {"command": f"python -m attractor.studies run {spec.name}", "commit": git_commit(), "machine": MACHINE,
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    summary["provenance"] = provenance
    prefix = RESULTS / f"study_{spec.name}"
    shown = [j for arm in spec.arms for j in reported(spec, jobs, arm, summary["screening"][arm]["chosen"] if spec.grid else None)]
    if shown:
        plot_curves(shown, spec.val_key(), prefix.with_suffix(".png"), f"{spec.name}: validation {spec.metric}, reported seeds")
        summary["plot"] = prefix.with_suffix(".png").name
    write_json(prefix.with_suffix(".json"), summary)
    page = render(summary, provenance) + (f"\n![validation against CPU time]({summary['plot']})\n" if shown else "")
    write_text(prefix.with_suffix(".md"), page)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "select", "report", "claims"])
    p.add_argument("study", nargs="?")
    p.add_argument("--jobs", type=int, default=2, help="jobs at a time, one thread each (at most one per core)")
    p.add_argument("--dry-run", action="store_true", help="run: print the sweeps instead of launching them")
    p.add_argument("--arms", nargs="+", help="select: only these arms")
    args = p.parse_args()
    if args.action == "claims":
        print(build_claims(RESULTS))
        return
    if not args.study:
        p.error(f"{args.action} needs a study")
    spec = load_spec(args.study)
    if args.action == "run":
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
        stages = ([("screen", sweep(spec, [spec.screen_seed], args.jobs, True))] if spec.grid else []) \
            + [("report", sweep(spec, spec.report_seeds, args.jobs, False))]
        for stage, command in stages:
            print(" ".join(command[1:]))
            if args.dry_run:
                continue
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            if stage == "screen":
                print(select(spec))
        if args.dry_run:
            return
    if args.action == "select":
        print(select(spec, args.arms))
        return
    summary = report(spec)
    print(f"wrote {RESULTS / f'study_{spec.name}.md'}; claims: {summary['claims']}")


if __name__ == "__main__":
    main()
