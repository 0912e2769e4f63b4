"""Every preset in configs/experiment, shrunk by debug=tiny, trains on the code path a GPU run takes
(bf16 autocast, compiled blocks, EMA, its solver and backward mode): the loss is finite and falls,
validation scores the averaged weights, and the last checkpoint gives back bit-identical logits in
every inference mode."""
import hashlib
import json

import pytest

from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class
from benchmarks.probes import probe_training
from tests.conftest import ROOT, SHARED_DATA, compose_run

PRESETS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("debug_data")


def shrunk_data_dir(preset: str, cache) -> str:
    """One folder per shrunk data set: presets on the same data (the three maze_hard recipes, the four
    sudoku_extreme ones) generate it once."""
    task = validate_run(compose_run([f"experiment={preset}", "debug=tiny"])).task
    return str(cache / hashlib.sha1(json.dumps([task.name, task.data], sort_keys=True).encode()).hexdigest()[:12])


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_in_bf16_compiled(tmp_path, data_cache, preset):
    cfg = compose_run([f"experiment={preset}", "debug=tiny", f"debug.data_dir={shrunk_data_dir(preset, data_cache)}",
                       "logger=none", "eval_after_fit=false", "trainer.precision=bf16-mixed", "train.compile=true"])
    if cfg.task.name == "lm" and not SHARED_DATA.exists():
        pytest.skip("the language-model presets read ../shared/data")
    run = validate_run(cfg, datamodule_class(cfg.task.name))
    report = probe_training(run, tmp_path)
    assert report["steps"] == run.train.max_steps and report["skipped_steps"] == 0
    assert report["finite"] and report["loss_fell"], (report["first_loss"], report["last_loss"])
    assert report["roundtrip_equal"], report["roundtrip_modes"]
    if run.optim.ema_decay > 0:
        assert report["averaged_weights_used"]
