"""A study's summary JSON as its markdown page and its plot (validation figure against CPU time)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from attractor.plotting import save_figure
from attractor.studies.runs import Job


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _ci(entry: dict[str, Any]) -> str:
    ci = entry.get("ci95")
    return f"{entry['mean']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def render(summary: dict[str, Any], provenance: dict[str, str]) -> str:
    """The page: question, provenance, every trial, reported arms, comparisons, internalization, gaps."""
    metric, lines = summary["metric"], []
    lines += [f"# {summary['title']}", "", f"**Question.** {summary['question']}", "",
              f"- Command: `{provenance['command']}` (resumable: finished jobs are skipped); page: "
              f"`python -m attractor.studies report {summary['study']}`",
              f"- Commit `{provenance['commit']}`; machine: {provenance['machine']}; date {provenance['date']}.",
              f"- Metric: test `{metric}` of each run's validation-chosen checkpoint (whole test split), "
              f"{'lower' if metric == 'loss' else 'higher'} is better; 95% intervals are Student-t over seeds.",
              f"- Grid screened for every arm on seed {summary['screen_seed']}: "
              f"{summary['grid'] or 'none (each arm at its own setting)'}; reported seeds {summary['report_seeds']}.", ""]
    lines += ["## Every screening trial (validation)", "",
              f"| arm | trial | best val {metric} (step) | converged at best | last val converged | CPU s | chosen |",
              "| --- | --- | ---: | ---: | ---: | ---: | :---: |"]
    for arm, s in summary["screening"].items():
        for r in s["trials"]:
            mark = "**yes**" if s["chosen"] and r["trial"] == s["chosen"]["trial"] else ""
            lines.append(f"| {arm} | {r['trial']} | {_f(r['best_val'])} ({r['best_step']}) | {_f(r['converged_at_best'])} | "
                         f"{_f(r['last_val_converged'])} | {_f(r['cpu_s'], 0)} | {mark} |")
    lines += ["", "## Reported seeds (test)", "",
              f"| arm | seeds | parameters | test {metric} [95% CI] | per seed | converged (test, per seed) | "
              "val change, last 20% | CPU s / step | f evals / step | GFLOPs / step |",
              "| --- | --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |"]
    for arm, r in summary["arms"].items():
        conv = ", ".join(_f(c) for c in r.get("test_converged", [])) or "(no solver)"
        lines.append(f"| {arm} | {r['seeds']} | {r['parameters']:,} | {_ci(r['test'])} | "
                     f"{', '.join(_f(v) for v in r['test']['values'])} | {conv} | "
                     f"{', '.join(_f(v, 4) for v in r['val_change_last_20pct'])} | {_f(r['cpu_s_per_step'])} | "
                     f"{_f(r['f_evals_per_step'], 1)} | {_f(r.get('flops_per_step', 0) / 1e9 or None, 2)} |")
    lines += ["", "Test figure per inference mode (mean over the reported seeds):", ""]
    for arm, r in summary["arms"].items():
        lines.append(f"- {arm}: " + ", ".join(f"`{m}` {_f(v)}" for m, v in r["modes"].items()))
    if summary["comparisons"]:
        lines += ["", "## Comparisons (claim 1; + favours the model)", "",
                  "| model − baseline | verdict | why | val at equal CPU time (model / baseline, budget) | "
                  "CPU s to the same seed's baseline final val (model / baseline) |", "| --- | --- | --- | --- | --- |"]
        for c in summary["comparisons"]:
            eq, reach = c["equal_cpu_time"], c["cpu_s_to_baseline_final_val"]
            lines.append(f"| {c['model']} − {c['baseline']} | **{c['verdict']}** | {c['why']} | "
                         f"{_f(eq['model_val'])} / {_f(eq['baseline_val'])} ({eq['cpu_budget_s']:.0f} s) | "
                         f"{_f(reach[c['model']], 0)} / {_f(reach[c['baseline']], 0)} (mean target {reach['target']:.3f}) |")
    if summary["internalization"]:
        lines += ["", "## Internalization against the early-exit control (claim 2)", "",
                  "Cost = how much worse the figure gets: the attractor without its solver (`removed`) against its "
                  "full solve; the control read out after as many blocks as the attractor's backbone (`exit`) "
                  "against its full depth. Difference = control cost − attractor cost (+: the attractor's "
                  "proposal internalised more).", "",
                  "| size | attractor cost (per seed) | control cost (per seed) | verdict | why |", "| --- | --- | --- | --- | --- |"]
        for i in summary["internalization"]:
            lines.append(f"| {i['size']} ({i['attractor']} `{i['removed']}` vs {i['control']} `{i['exit']}`) | "
                         f"{', '.join(_f(v) for v in i['attractor_cost'].values())} | "
                         f"{', '.join(_f(v) for v in i['control_cost'].values())} | **{i['verdict']}** | {i['why']} |")
        lines += ["", "Over training (validation cost at 25/50/75/100% of steps, mean over seeds; attractor / control):", ""]
        for i in summary["internalization"]:
            lines.append(f"- {i['size']}: " + "; ".join(f"{int(100 * c['fraction'])}%: {_f(c['attractor'])} / {_f(c['control'])}"
                                                        for c in i["over_training_val"]))
            if i["partial_depth_cost"]:
                lines.append("  partial depth (test cost of the attractor at a fixed iteration count): "
                             + ", ".join(f"`{m}` {_f(v)}" for m, v in i["partial_depth_cost"].items()))
    missing = {a: s for a, s in summary["missing"].items() if s}
    if missing:
        lines += ["", f"**Not run (yet)**: reported seeds missing per arm: {missing}."]
    return "\n".join(lines) + "\n"


def plot_curves(jobs: list[Job], val_key: str, path: Path, title: str) -> None:
    """Validation figure against training CPU seconds, every reported job, one colour per arm."""
    with save_figure(path) as (fig, ax):
        arms = sorted({j.arm for j in jobs})
        for k, arm in enumerate(arms):
            for n, j in enumerate(x for x in jobs if x.arm == arm):
                pts = [(r["cpu_s"], r[val_key]) for r in j.curve if r["cpu_s"] is not None and val_key in r]
                ax.plot(*zip(*pts), color=f"C{k}", alpha=0.8, label=arm if n == 0 else None)
        ax.set_xlabel("training CPU seconds")
        ax.set_ylabel(val_key)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
