"""A tiny deterministic sudoku run for the kill-and-resume test: `python kill_train.py RUN_DIR MARKERS [last]`.

`last` resumes the run (`ckpt_path=last`). In MARKERS, `train_start` and `train_end` are made when fit's
training begins and ends. With `KILL_TEST_SLOW_WRITE_STEP=S`, the checkpoint
of global step S is written half, `MARKERS/writing` is made, and the write sleeps, so the test can
SIGKILL the process in the middle of that write. Nothing here is used outside the test.
"""
import io
import os
import sys
import time
from pathlib import Path

import lightning as L

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attractor.tasks import harness  # noqa: E402
from attractor.tasks.checkpoint_io import AtomicCheckpointIO  # noqa: E402
from attractor.tasks.config import validate_run  # noqa: E402
from tests.conftest import compose_run  # noqa: E402

MAX_STEPS, EVERY = 10, 2
OVERRIDES = ["experiment=sudoku_smoke", "model.dim=32", "model.n_heads=2", "logger=none", "eval_after_fit=false",
             f"train.max_steps={MAX_STEPS}", f"train.checkpoint_every_steps={EVERY}", "train.val_every_steps=100",
             "task.data.n_train=64", "task.data.n_test=16", "task.batch_size=16", "trainer.deterministic=true",
             "optim.ema_decay=0"]


class Markers(L.Callback):
    def __init__(self, markers: Path):
        self.markers = markers

    def on_train_start(self, *args) -> None:
        (self.markers / "train_start").touch()

    def on_train_end(self, *args) -> None:
        (self.markers / "train_end").touch()


def slow_write(step: int, markers: Path):
    """``AtomicCheckpointIO._write`` that stops half-way through the checkpoint of ``step``."""
    write = AtomicCheckpointIO._write

    def _write(self, checkpoint, tmp):
        if checkpoint.get("global_step") != step:
            return write(self, checkpoint, tmp)
        buffer = io.BytesIO()
        write(self, checkpoint, buffer)
        data = buffer.getvalue()
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            (markers / "writing").write_text(str(tmp))
            time.sleep(300)  # the test kills us here
            f.write(data[len(data) // 2 :])

    return _write


if __name__ == "__main__":
    run_dir, markers = Path(sys.argv[1]), Path(sys.argv[2])
    markers.mkdir(parents=True, exist_ok=True)
    if os.environ.get("KILL_TEST_SLOW_WRITE_STEP"):
        AtomicCheckpointIO._write = slow_write(int(os.environ["KILL_TEST_SLOW_WRITE_STEP"]), markers)
    build_trainer = harness.build_trainer

    def with_markers(*args, **kwargs):
        trainer = build_trainer(*args, **kwargs)
        trainer.callbacks.append(Markers(markers))
        return trainer

    harness.build_trainer = with_markers
    cfg = compose_run(OVERRIDES + (["ckpt_path=last"] if sys.argv[3:] == ["last"] else []))
    harness.train(validate_run(cfg, harness.datamodule_class(cfg.task.name)), run_dir)
