"""docs/results/claims.md from every study's JSON (``docs/results/study_*.json``), by one rule.

Each study judges the claims it can test at its size (:mod:`attractor.studies.verdict`); this page
lists them side by side per claim, never merging sizes that disagree. Pages from before the rule
(unequal tuning, a non-converging attractor) are not counted; ``SUPERSEDED`` says why for each.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from attractor.io import write_text
from attractor.studies.verdict import NONE, across_sizes

CLAIMS = {
    "beats_baselines": "The attractor beats looped and standard Transformers at equal parameters",
    "internalization": "The solver can be removed at inference with little loss (against a Transformer's early exit)",
    "adaptive_depth": "Adaptive iterations track difficulty and extend to deeper problems",
}
SUPERSEDED = {  # pages judged before the rule, and why they are not counted
    "ladder_cpu.md": "unequal tuning (the attractor ran the recipes study's worst recipe at an lr calibrated on the "
                     "baselines) and its solve hit the iteration cap on all but one test item (did not converge)",
    "recipes_cpu.md": "unequal tuning (only the attractor had the scaled init and a three-recipe screen; the "
                      "screening seed was reused in the report)",
    "lm_study_cpu.md": "~9 tokens per parameter, the attractor's recipe screened but not the baselines', one seed diverged",
    "reasoners_cpu.md": "unequal tuning (one lr for every model); the attractor did not converge at width 32",
    "puzzle_comparison_cpu.md": "one lr for every model, before the Jacobian-penalty scale and thread fixes",
    "lm_shakespeare_cpu.md": "one lr, one seed, before the recipes and convergence studies",
}


def _numbers(study: dict, claim: str) -> list[str]:
    """The evidence lines of one study for one claim."""
    if claim == "beats_baselines":
        return [f"{c['model']} − {c['baseline']}: **{c['verdict']}**, {c['why']}" for c in study["comparisons"]]
    return [f"{i['size']}: {i['attractor']} `{i['removed']}` vs {i['control']} `{i['exit']}`: **{i['verdict']}**, {i['why']}"
            for i in study["internalization"]]


def build_claims(results: Path) -> Path:
    """Write ``results/claims.md``; return its path."""
    studies = [json.loads(p.read_text()) for p in sorted(results.glob("study_*.json"))]
    lines = ["# The seed claims, judged by one rule", "",
             f"Rebuilt by `python -m attractor.studies claims` from every study's JSON ({len(studies)} studies: "
             + ", ".join(f"[`{s['study']}`](study_{s['study']}.md) (commit {s.get('provenance', {}).get('commit', '?')}, "
                         f"seeds {s.get('report_seeds', '?')})" for s in studies)
             + f"); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine as each study page says "
             "(the project's 2-core CPU, one thread per job). The rule (`attractor/studies/verdict.py`): "
             "no verdict from a solver arm that did not converge (>= 95% of rows at tolerance on every seed), "
             "from arms tuned unequally (the same screening grid on a seed apart from the reported ones), or from "
             "fewer than 3 paired seeds; otherwise the Student-t 95% interval of the seed-paired difference: "
             "`holds` above 0, `does not hold` below 0, `inconclusive` across it. Sizes are listed, not merged. "
             "Scope: CPU-sized models (tens of thousands to 0.3M parameters) trained for minutes; nothing here "
             "tests the paper's 27M-770M results.", "",
             "| # | claim | verdict by size | evidence |", "| --- | --- | --- | --- |"]
    for k, (key, text) in enumerate(CLAIMS.items(), 1):
        by_size = {size: v for s in studies for size, v in s["claims"].get(key, {}).items()}
        evidence = "<br>".join(f"[{s['study']}](study_{s['study']}.md): " + "; ".join(_numbers(s, key))
                               for s in studies if s["claims"].get(key))
        verdict = across_sizes(by_size) if by_size else f"{NONE}: no study under the rule tests it yet"
        lines.append(f"| {k} | {text} | {verdict} | {evidence or '–'} |")
    lines += ["", "## Not counted", "",
              "Pages measured before this rule; each says at its top that it is superseded:", ""]
    lines += [f"- [{page}]({page}): {why}." for page, why in SUPERSEDED.items()]
    path = results / "claims.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
