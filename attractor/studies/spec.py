"""What a study compares: ``configs/study/<study>/report.yaml`` (not an arm: its report's spec)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from attractor.config import from_mapping

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class Comparison:
    """Claim 1 at this study's size: ``model`` against ``baseline``, on the study's metric."""

    model: str
    baseline: str


@dataclass
class Internalization:
    """Claim 2: the attractor's cost of removing its solver (``removed`` mode against its full solve)
    against the control's cost of exiting early (``exit`` mode against its full depth)."""

    size: str
    attractor: str
    control: str
    removed: str = "none"
    exit: str = "iters=2"
    partial: list[str] = field(default_factory=list)  # the attractor's partial-depth modes shown (e.g. iters=1)


@dataclass
class StudySpec:
    name: str
    title: str
    question: str
    size: str  # the label the claims page gives this study's comparisons ("52.6k")
    metric: Literal["loss", "exact_acc"]  # loss: lower is better (LMs); exact_acc: higher (puzzles)
    arms: list[str]
    grid: dict[str, list[Any]] = field(default_factory=dict)  # override -> values screened for every arm
    screen_seed: int = 0
    report_seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    comparisons: list[Comparison] = field(default_factory=list)
    internalization: list[Internalization] = field(default_factory=list)

    @property
    def better(self) -> int:
        """+1 when a larger figure is better, -1 when a smaller one is."""
        return -1 if self.metric == "loss" else 1

    def val_key(self, mode: str = "solver") -> str:
        return f"val/{self.metric}" if mode == "solver" else f"val/{mode}/{self.metric}"


def load_spec(study: str, configs: Path = CONFIGS) -> StudySpec:
    """The spec of ``study``; a clear error naming the file and field when it is malformed."""
    path = configs / "study" / study / "report.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such study spec (studies: "
                                f"{sorted(p.parent.name for p in (configs / 'study').glob('*/report.yaml'))})")
    raw = yaml.safe_load(path.read_text()) or {}
    comparisons = [from_mapping(Comparison, c, f"{path}: comparisons[{i}]")
                   for i, c in enumerate(raw.pop("comparisons", []))]
    internalization = [from_mapping(Internalization, c, f"{path}: internalization[{i}]")
                       for i, c in enumerate(raw.pop("internalization", []))]
    spec = from_mapping(StudySpec, {"name": study, **raw}, str(path))
    spec.comparisons, spec.internalization = comparisons, internalization
    for arm in spec.arms:
        if not (configs / "study" / study / f"{arm}.yaml").exists():
            raise FileNotFoundError(f"{path}: arm {arm!r} has no config {configs / 'study' / study / f'{arm}.yaml'}")
    if spec.screen_seed in spec.report_seeds:
        raise ValueError(f"{path}: screen_seed {spec.screen_seed} is also a reported seed; screening seeds must be apart")
    return spec
