"""The one verdict rule every study and size is judged by (docs/results/claims.md).

A claim at one size rests on seed-paired differences, oriented so that a positive difference favours
the claim (the attractor better; its solver-removed gap smaller than the control's early-exit gap).
Before any interval is read, the evidence must qualify:

- **converged**: every solver arm's solve met its tolerance on at least ``CONVERGED`` of its rows, on
  validation at the chosen checkpoint and on test, on every reported seed (else the arm is a
  truncated unroll, not an attractor: ``no verdict``);
- **equal tuning**: the arms were screened over the same grid (same trials) on a screening seed
  that is not among the reported ones (else ``no verdict``);
- **seeds**: at least 3 reported seeds shared by the arms (else ``no verdict``).

Then, with the Student-t 95% interval of the mean difference: ``holds`` when it lies above 0,
``does not hold`` when it lies below 0, ``inconclusive`` when it contains 0. Several comparisons
behind one claim at one size (the attractor against each baseline) combine as: ``no verdict`` if
any has none, else ``does not hold`` if any does not hold, else ``holds`` if all hold, else
``inconclusive``. Across sizes the verdicts are listed, never merged: "holds at 52.6k; inconclusive at 0.2M".
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from attractor.stats import seed_interval

MIN_SEEDS = 3
HOLDS, FAILS, OPEN, NONE = "holds", "does not hold", "inconclusive", "no verdict"


@dataclass
class Verdict:
    verdict: str
    why: str  # the interval, or what disqualified the evidence
    seeds: list[int] = field(default_factory=list)
    differences: list[float] = field(default_factory=list)
    mean: float | None = None
    ci95: list[float] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def judge(differences: dict[int, float], problems: Sequence[str] = ()) -> Verdict:
    """The rule on seed-paired differences (positive favours the claim), after the evidence's problems
    (non-convergence, unequal tuning) are checked: any problem, or too few seeds, is ``no verdict``."""
    seeds = sorted(differences)
    diffs = [differences[s] for s in seeds]
    if problems:
        return Verdict(NONE, "; ".join(problems), seeds, diffs)
    if len(diffs) < MIN_SEEDS:
        return Verdict(NONE, f"{len(diffs)} paired seeds, fewer than {MIN_SEEDS}", seeds, diffs)
    low, high = seed_interval(diffs)
    mean = statistics.mean(diffs)
    verdict = HOLDS if low > 0 else FAILS if high < 0 else OPEN
    return Verdict(verdict, f"mean {mean:+.4g} [{low:+.4g}, {high:+.4g}] over seeds {seeds}", seeds, diffs, mean, [low, high])


def combine(verdicts: Sequence[str]) -> str:
    """Several comparisons behind one claim at one size (the attractor against each baseline)."""
    if not verdicts or NONE in verdicts:
        return NONE
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else OPEN


def across_sizes(by_size: dict[str, str]) -> str:
    """One line for a claim over sizes: the common verdict, or each size's ("holds at X; ...")."""
    if len(set(by_size.values())) == 1:
        verdict = next(iter(by_size.values()))
        return f"{verdict} (at {', '.join(by_size)})"
    return "; ".join(f"{v} at {size}" for size, v in by_size.items())
