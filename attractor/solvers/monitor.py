"""The residual monitor: f wrapped so that every evaluation records its residuals, per row and per scope.

Every solver reads its residuals here (computed once per evaluation), so all give the same trace and
stop by the same rule. A row is one fixed-point problem of the solver's batch: a sample of a
bidirectional model, a (sample, position) of a causal one. The stop scope says whose residual the
tolerance is compared with:

- ``row``: each row's own ||f(x) - x|| (relative: / ||f(x)||): every position of a causal model
  must meet the tolerance;
- ``sample``: each sample's rows together (the norms taken over all its positions at once), the
  reference LM code's per-sequence rule: a few slow positions barely move a sequence's residual;
- ``batch``: all rows together.

A scoped residual is the same for every row of its group, so a row's lowest-residual iterate and
its stopping step are its group's.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from attractor.solvers.config import StopScope

Fn = Callable[[torch.Tensor], torch.Tensor]


class ResidualMonitor:
    """Wraps f and records, per row, ||f(x) - x|| and its relative form at every evaluation.

    ``scope`` (see the module docstring) with ``samples``: the rows are that many equal consecutive
    groups, one per sample (None: one row per sample). ``keep > 0`` also keeps between ``keep`` and
    ``2 keep`` of the points evaluated, evenly spaced over however many evaluations the solve takes
    (every ``stride``-th; the stride doubles whenever the kept set fills), for fixed-point
    correction: memory stays bounded at any depth.
    """

    def __init__(self, f: Fn, stop_mode: str = "abs", keep: int = 0, scope: StopScope = "row",
                 samples: int | None = None):
        self.f, self.stop_mode, self.keep = f, stop_mode, keep
        self.scope, self.samples = scope, samples
        self.abs: list[torch.Tensor] = []
        self.rel: list[torch.Tensor] = []
        self.scoped: list[torch.Tensor] = []  # stop-mode residual in the scope (scope != row only)
        self.kept: list[tuple[int, torch.Tensor]] = []
        self.stride = 1

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep and self.evaluations % self.stride == 0:
            self._keep(x)
        fx = self.f(x)
        with torch.no_grad():
            diff = (fx - x).flatten(1).norm(dim=1)
            norm = fx.flatten(1).norm(dim=1)
            self.abs.append(diff)
            self.rel.append(diff / (norm + 1e-9))
            if self.scope != "row":
                self.scoped.append(self._in_scope(diff, norm))
        return fx

    def _in_scope(self, diff: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        """The group residual (norms over all of a group's rows), repeated for each of its rows."""
        rows = diff.shape[0]
        groups = 1 if self.scope == "batch" else (self.samples or rows)
        if rows % groups:
            raise ValueError(f"{rows} solver rows do not split into {groups} samples")
        group_diff = diff.view(groups, -1).pow(2).sum(dim=1).sqrt()
        if self.stop_mode == "rel":
            group_diff = group_diff / (norm.view(groups, -1).pow(2).sum(dim=1).sqrt() + 1e-9)
        return group_diff.repeat_interleave(rows // groups)

    def _keep(self, x: torch.Tensor) -> None:
        self.kept.append((self.evaluations, x.detach()))
        if len(self.kept) > 2 * self.keep:
            self.stride *= 2
            self.kept = [(i, z) for i, z in self.kept if i % self.stride == 0]

    def intermediate(self, before: int) -> list[tuple[int, torch.Tensor]]:
        """Up to ``keep`` of the (evaluation index, point) kept before evaluation ``before``, evenly
        spaced from the first (the starting point) onwards; points that went non-finite (a discarded
        attempt) are skipped."""
        points = [(i, z) for i, z in self.kept if i < before and bool(torch.isfinite(z).all())]
        if len(points) <= self.keep:
            return points
        return [points[j * len(points) // self.keep] for j in range(self.keep)]

    def stop_residual(self) -> torch.Tensor:
        """Per-row residual of the last evaluation that the tolerance is compared with: the stop
        mode's, in the stop scope."""
        return self._stop_list()[-1]

    def _stop_list(self) -> list[torch.Tensor]:
        if self.scope != "row":
            return self.scoped
        return self.abs if self.stop_mode == "abs" else self.rel

    @property
    def evaluations(self) -> int:
        return len(self.abs)

    def trace(self, mode: str) -> torch.Tensor:
        """(B, evaluations) per-row residuals in the given stop mode."""
        return torch.stack(self.abs if mode == "abs" else self.rel, dim=1)

    def stop_trace(self) -> torch.Tensor:
        """(B, evaluations) stop residuals (the stop mode's, in the stop scope)."""
        return torch.stack(self._stop_list(), dim=1)
