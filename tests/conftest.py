"""Shared test helpers: compose the real Hydra configs, as train.py does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_MODE", "disabled")


def compose_run(overrides: list[str], config_name: str = "train"):
    """The composed config for ``overrides`` (a DictConfig), as train.py composes it."""
    from attractor.compose import compose

    return compose(overrides, config_name)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
