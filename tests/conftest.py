"""Shared test helpers: compose the real Hydra configs, as train.py does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_MODE", "disabled")


def compose_run(overrides: list[str], config_name: str = "train"):
    """The composed config for ``overrides`` (a DictConfig), without running Hydra's job machinery."""
    from hydra import compose, initialize_config_dir

    from attractor.config import register_resolvers

    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        return compose(config_name=config_name, overrides=overrides)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
