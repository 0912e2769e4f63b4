"""Configs composed as the entry points compose them, with every default in one place: its dataclass.

:func:`register` (the entry points call it before Hydra composes) stores in Hydra's ConfigStore,
for each config group, a ``base`` node made of its dataclass's field defaults (``model``: one
``base_<name>`` per model, without the solver, which the ``solver`` group gives). Every group file
lists its base first in its defaults, so it states only what it changes, and a field added to a
dataclass is in every composed config at once, with its one default (tests/test_config_defaults.py).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from attractor.config import from_mapping, to_plain
from attractor.decoding.config import DecodeConfig
from attractor.evaluation.scaling.config import ScalingConfig
from attractor.models import MODELS
from attractor.solvers import SolverConfig
from attractor.tasks.config import DebugConfig, LoggerConfig, OptimConfig, TaskConfig, TrainConfig, TrainerConfig

T = TypeVar("T")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GROUPS: dict[str, type] = {
    "task": TaskConfig, "solver": SolverConfig, "optim": OptimConfig, "train": TrainConfig, "trainer": TrainerConfig,
    "logger": LoggerConfig, "debug": DebugConfig, "scaling": ScalingConfig, "decode": DecodeConfig,
}
"""Each config group's dataclass (the ``model`` group's: ``attractor.models.MODELS``, by name)."""


def field_defaults(cls: type, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Every constructor field's default as plain data (a nested dataclass as a dict)."""
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out


def register() -> None:
    """The ``base`` node of every group and the resolvers the configs use (``${mul:9,9}``); safe to
    call twice."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    for name, fn in {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    store = ConfigStore.instance()
    for group, cls in GROUPS.items():
        store.store(group=group, name="base", node=field_defaults(cls))
    for name, (cls, _) in MODELS.items():
        store.store(group="model", name=f"base_{name}", node=field_defaults(cls, skip=("solver",)))


def compose(overrides: Sequence[str], config_name: str | None = "train", config_dir: str | None = None) -> Any:
    """The composed Hydra config (a DictConfig) of ``configs/<config_name>.yaml`` with ``overrides``
    (``None``: no root config, only what the overrides add), as the entry points compose it, without
    Hydra's job machinery (for scripts and tests)."""
    from hydra import compose as hydra_compose, initialize_config_dir

    register()
    with initialize_config_dir(version_base="1.3", config_dir=config_dir or str(CONFIGS)):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def group_config(cls: type[T], group: str, name: str, overrides: Sequence[str] = (), **fields: Any) -> T:
    """Option ``name`` of config ``group`` as its dataclass: ``configs/<group>/<name>.yaml`` over the
    defaults, then Hydra ``overrides`` of its keys (``k=4``), then Python values ``fields``."""
    cfg = compose([f"+{group}={name}", *(f"{group}.{o}" for o in overrides)], config_name=None)
    return from_mapping(cls, {**to_plain(cfg[group]), **fields}, group)
