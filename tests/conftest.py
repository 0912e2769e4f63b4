"""Shared test helpers: compose the real Hydra configs, as train.py does; run an entry point's command."""
from __future__ import annotations

import logging
import os
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_MODE", "disabled")


def compose_run(overrides: list[str], config_name: str = "train"):
    """The composed config for ``overrides`` (a DictConfig), as train.py composes it."""
    from attractor.compose import compose

    return compose(overrides, config_name)


def run_command(script: str, args: list[str], monkeypatch) -> int:
    """``python SCRIPT ARGS`` (train.py, eval.py) run in this process, as the command would run it
    (Hydra parses the arguments), without a new interpreter's seconds of imports; its exit status.
    Hydra's global state and the logging it configures are put back afterwards."""
    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [str(ROOT / script), *map(str, args)])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
