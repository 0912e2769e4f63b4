"""A study's figures from its jobs' files: every screening trial, the setting chosen on validation,
the reported seeds' test scores, compute, comparisons and internalization, each judged by the rule
of :mod:`attractor.studies.verdict`. ``summarise`` returns the JSON; ``render`` the markdown page.
"""
from __future__ import annotations

import statistics
from typing import Any

from omegaconf import OmegaConf

from attractor.stats import seed_interval
from attractor.studies.runs import CONVERGED, Job
from attractor.studies.spec import StudySpec
from attractor.studies.verdict import combine, judge
from attractor.tasks.flops import train_step_flops

FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of training, where the internalization curve is read


def screening(spec: StudySpec, jobs: list[Job]) -> dict[str, dict[str, Any]]:
    """Per arm, its trials on the screening seed and the one chosen: the best validation score among
    the trials whose solve converged at that checkpoint (all trials when none did, flagged)."""
    out = {}
    for arm in spec.arms:
        trials = [j for j in jobs if j.arm == arm and j.seed == spec.screen_seed]
        rows = [{"trial": trial(spec, j), "settings": settings(spec, j), "best_step": j.best()["step"],
                 "best_val": j.best().get(spec.val_key()), "converged_at_best": j.converged_at(j.best()),
                 "last_val_converged": j.converged_at(j.curve[-1]), "cpu_s": j.metrics.get("train_step_cpu_time_s"),
                 "steps": j.metrics["steps"]} for j in trials if j.curve]
        eligible = [r for r in rows if r["converged_at_best"] is None or r["converged_at_best"] >= CONVERGED]
        chosen = max(eligible or rows, key=lambda r: spec.better * r["best_val"], default=None)
        out[arm] = {"trials": rows, "chosen": chosen, "chosen_converged": bool(eligible)}
    return out


def settings(spec: StudySpec, job: Job) -> dict[str, Any]:
    """The job's value of every screened override (``optim.lr``: its config's optim.lr)."""
    out = {}
    for key in spec.grid:
        node = job.config
        for part in key.split("."):
            node = node[part]
        out[key] = node
    return out


def trial(spec: StudySpec, job: Job) -> str:
    """The screened setting of a job, independent of its seed (unscreened: its learning rate and init)."""
    return " ".join(f"{k}={v}" for k, v in settings(spec, job).items()) or f"optim.lr={job.lr:g} model.init={job.init}"


def reported(spec: StudySpec, jobs: list[Job], arm: str, chosen: dict | None) -> list[Job]:
    """The arm's reported seeds that ran the chosen setting (or, unscreened, the arm's own) and were scored on test."""
    return [j for j in jobs if j.arm == arm and j.seed in spec.report_seeds and j.evaluation is not None
            and (chosen is None or settings(spec, j) == chosen["settings"])]


def flatness(job: Job, key: str) -> float | None:
    """Change of a validation figure over the last 20% of steps (near 0: the curve flattened)."""
    tail = [r[key] for r in job.curve if key in r and r["step"] >= 0.8 * job.metrics["steps"]]
    return tail[-1] - tail[0] if len(tail) > 1 else None


def mean_ci(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "ci95": list(seed_interval(values)) if len(values) > 1 else None,
            "values": values}


def arm_row(spec: StudySpec, runs: list[Job]) -> dict[str, Any]:
    """Test score (mean over seeds, t-interval), convergence, flatness and compute of an arm's reported runs."""
    test = [j.test_row()[spec.metric] for j in runs]
    solves = [j.test_row().get("solve") for j in runs]
    cpu = [j.metrics.get("train_step_cpu_time_s") or 0.0 for j in runs]
    row = {"seeds": [j.seed for j in runs], "test": mean_ci(test), "parameters": runs[0].metrics["parameters"],
           "steps": runs[0].metrics["steps"], "cpu_s": statistics.mean(cpu),
           "cpu_s_per_step": statistics.mean(c / j.metrics["steps"] for c, j in zip(cpu, runs)),
           "val_change_last_20pct": [flatness(j, spec.val_key()) for j in runs],
           "f_evals_per_step": (statistics.mean(j.f_evals_per_step for j in runs) if runs[0].f_evals_per_step else None),
           "modes": {r["mode"]: statistics.mean(next(x for x in j.evaluation["sweep"] if x["mode"] == r["mode"])[spec.metric]
                                                for j in runs) for r in runs[0].evaluation["sweep"]}}
    if any(s is not None for s in solves):
        row["test_converged"] = [s["converged_frac"] for s in solves]
        row["val_converged_at_best"] = [j.converged_at(j.best()) for j in runs]
    return row


def convergence_problems(name: str, row: dict[str, Any]) -> list[str]:
    """Why an arm cannot be judged as an attractor (empty: it converged on every seed)."""
    if "test_converged" not in row:
        return []
    worst = min(row["test_converged"] + [c for c in row["val_converged_at_best"] if c is not None])
    return [] if worst >= CONVERGED else [f"{name} did not converge (worst seed {worst:.3f} < {CONVERGED})"]


def tuning_problems(spec: StudySpec, screen: dict, arms: list[str]) -> list[str]:
    """Unequal tuning: the arms of a comparison screened over different trials, or not screened."""
    if not spec.grid:
        return ["no tuning screen (one setting per arm)"]
    trials = {arm: sorted(r["trial"] for r in screen[arm]["trials"]) for arm in arms}
    first = trials[arms[0]]
    if any(t != first for t in trials.values()) or not first:
        return [f"unequal screening: {', '.join(f'{a} {len(t)} trials' for a, t in trials.items())}"]
    return []


def by_seed(runs: list[Job], value) -> dict[int, float]:
    return {j.seed: value(j) for j in runs}


def equal_cpu(spec: StudySpec, a: list[Job], b: list[Job]) -> dict[str, Any]:
    """Validation figure of each arm at the CPU time the cheaper arm's whole run took (seed means)."""
    budget = min(statistics.mean(j.metrics["train_step_cpu_time_s"] for j in runs) for runs in (a, b))

    def at(runs: list[Job]) -> float | None:
        vals = [next((r[spec.val_key()] for r in reversed(j.curve) if r["cpu_s"] is not None and r["cpu_s"] <= budget), None)
                for j in runs]
        return statistics.mean(vals) if all(v is not None for v in vals) else None

    return {"cpu_budget_s": budget, "model_val": at(a), "baseline_val": at(b)}


def time_to_reach(spec: StudySpec, runs: list[Job], baseline: list[Job]) -> float | None:
    """Mean CPU seconds until each run's validation figure first reaches the final one of the
    baseline's run of the same seed (None: some seed never did)."""
    final = {j.seed: j.curve[-1][spec.val_key()] for j in baseline}
    times = [next((r["cpu_s"] for r in j.curve if spec.better * (r[spec.val_key()] - final[j.seed]) >= 0), None)
             for j in runs if j.seed in final]
    return statistics.mean(times) if times and all(t is not None for t in times) else None


def compare(spec: StudySpec, screen: dict, rows: dict, runs: dict[str, list[Job]], model: str, baseline: str) -> dict:
    """Claim 1: the model against a baseline, seed-paired test differences oriented so + favours the model."""
    diffs = {s: spec.better * (v - b) for s, v in by_seed(runs[model], lambda j: j.test_row()[spec.metric]).items()
             if (b := by_seed(runs[baseline], lambda j: j.test_row()[spec.metric]).get(s)) is not None}
    problems = tuning_problems(spec, screen, [model, baseline]) + convergence_problems(model, rows[model])
    final = statistics.mean(j.curve[-1][spec.val_key()] for j in runs[baseline])
    return {"model": model, "baseline": baseline, **judge(diffs, problems).as_dict(),
            "equal_cpu_time": equal_cpu(spec, runs[model], runs[baseline]),
            "cpu_s_to_baseline_final_val": {"target": final, model: time_to_reach(spec, runs[model], runs[baseline]),
                                            baseline: time_to_reach(spec, runs[baseline], runs[baseline])}}


def cost(spec: StudySpec, job: Job, mode: str) -> float:
    """What reading out in ``mode`` costs against the full model, on test (+: worse)."""
    return spec.better * (job.test_row()[spec.metric] - job.test_row(mode)[spec.metric])


def val_cost(spec: StudySpec, job: Job, mode: str, fraction: float) -> float | None:
    """The same cost on validation at the last validation within ``fraction`` of training."""
    rows = [r for r in job.curve if r["step"] <= fraction * job.metrics["steps"] + 1 and spec.val_key(mode) in r]
    return spec.better * (rows[-1][spec.val_key()] - rows[-1][spec.val_key(mode)]) if rows else None


def internalization(spec: StudySpec, screen: dict, rows: dict, runs: dict[str, list[Job]], item) -> dict:
    """Claim 2 at one size: is the attractor's solver-removed cost below the control's early-exit cost?"""
    att, ctl = runs[item.attractor], runs[item.control]
    att_cost = by_seed(att, lambda j: cost(spec, j, item.removed))
    ctl_cost = by_seed(ctl, lambda j: cost(spec, j, item.exit))
    diffs = {s: ctl_cost[s] - att_cost[s] for s in att_cost if s in ctl_cost}
    problems = convergence_problems(item.attractor, rows[item.attractor]) + tuning_problems(spec, screen, [item.attractor, item.control])
    curve = [{"fraction": f,
              "attractor": _mean([val_cost(spec, j, item.removed, f) for j in att]),
              "control": _mean([val_cost(spec, j, item.exit, f) for j in ctl])} for f in FRACTIONS]
    return {**vars(item), **judge(diffs, problems).as_dict(), "attractor_cost": att_cost, "control_cost": ctl_cost,
            "over_training_val": curve,
            "partial_depth_cost": {m: _mean([cost(spec, j, m) for j in att]) for m in item.partial}}


def _mean(values: list[float | None]) -> float | None:
    return statistics.mean(values) if values and all(v is not None for v in values) else None


def summarise(spec: StudySpec, jobs: list[Job], flops: bool = False) -> dict[str, Any]:
    """The study's JSON: every trial, the choices, per-arm rows, comparisons, internalization;
    ``flops``: also each arm's FLOPs per training step (counted on its config, at init)."""
    screen = screening(spec, jobs)
    runs = {arm: reported(spec, jobs, arm, screen[arm]["chosen"] if spec.grid else None) for arm in spec.arms}
    rows = {arm: arm_row(spec, r) for arm, r in runs.items() if r}
    for arm, row in rows.items() if flops else ():
        job = runs[arm][0]  # its name spelled out: early jobs named themselves by a Hydra-only interpolation
        row["flops_per_step"] = train_step_flops(OmegaConf.create({**job.config, "name": job.dir.name}))["flops_per_step"]
    comparisons = [compare(spec, screen, rows, runs, c.model, c.baseline) for c in spec.comparisons
                   if c.model in rows and c.baseline in rows]
    internal = [internalization(spec, screen, rows, runs, i) for i in spec.internalization
                if i.attractor in rows and i.control in rows]
    claims = {}
    if comparisons:
        claims["beats_baselines"] = {spec.size: combine([c["verdict"] for c in comparisons])}
    for item in internal:
        claims.setdefault("internalization", {})[item["size"]] = item["verdict"]
    return {"study": spec.name, "title": spec.title, "question": spec.question, "metric": spec.metric,
            "grid": spec.grid, "screen_seed": spec.screen_seed, "report_seeds": spec.report_seeds,
            "screening": screen, "arms": rows, "comparisons": comparisons, "internalization": internal,
            "claims": claims, "missing": {arm: sorted(set(spec.report_seeds) - {j.seed for j in r}) for arm, r in runs.items()}}
