"""SIGKILL a training run at random moments, and once in the middle of a checkpoint write; resumed
with ``ckpt_path=last`` each time, it must end with the weights of a run that was never killed.

The run (``kill_train.py``: 10 steps, a checkpoint every 2) goes through four processes:
1. killed half-way through writing its first checkpoint: no ``last.ckpt`` yet, so it restarts fresh;
2. killed at a random moment (seeded) of its start-up or its training;
3. killed half-way through writing its next checkpoint: the previous ``last.ckpt`` must stay whole;
4. resumed to the end.
After every kill ``last.ckpt`` is absent or a whole checkpoint that ``torch.load(weights_only=True)``
reads, and its step never goes back.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from attractor.tasks.checkpoint_io import AtomicCheckpointIO
from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class, train
from tests.conftest import compose_run
from tests.tasks.kill_train import EVERY, MAX_STEPS

SCRIPT = Path(__file__).with_name("kill_train.py")

TIMEOUT_S = 120


def checkpoint(step: int) -> dict:
    return {"global_step": step, "state_dict": {"w": torch.full((256, 256), float(step))}}


def half_write(then):
    """An ``AtomicCheckpointIO._write`` that writes a torn checkpoint (a zip header, no directory),
    then calls ``then()``."""
    def _write(self, ckpt, tmp):
        with open(tmp, "wb") as f:
            f.write(b"PK\x03\x04" + bytes(100_000))
            f.flush()
            then()
    return _write


def test_every_checkpoint_of_a_training_run_goes_through_the_atomic_plugin(tmp_path, monkeypatch):
    """Lightning writes through the trainer's checkpoint plugin: the harness must hand it ours, or
    a kill during a write can tear ``last.ckpt`` (the tests below)."""
    written = []
    save = AtomicCheckpointIO.save_checkpoint

    def recording(self, checkpoint, path, storage_options=None):
        written.append(Path(path).name)
        save(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", recording)
    cfg = compose_run(["experiment=sudoku_smoke", "model.dim=32", "model.n_heads=2", "logger=none",
                       "eval_after_fit=false", "train.max_steps=2", "train.val_every_steps=1",
                       "train.checkpoint_every_steps=1", "task.data.n_train=16", "task.data.n_test=8",
                       "task.batch_size=8"])
    train(validate_run(cfg, datamodule_class(cfg.task.name)), tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert set(written) == {"best.ckpt", "last.ckpt"} and written.count("last.ckpt") == 3  # steps 1, 2, final


def test_a_failed_checkpoint_write_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch):
    path, io = tmp_path / "checkpoints" / "last.ckpt", AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(2), path)

    def fail():
        raise OSError("disk full")

    monkeypatch.setattr(AtomicCheckpointIO, "_write", half_write(fail))
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint(checkpoint(4), path)
    assert torch.load(path, weights_only=True)["global_step"] == 2
    assert list(path.parent.iterdir()) == [path]


# A process that dies by SIGKILL half-way through its write: no cleanup runs. (A subprocess, not a
# fork: a fork of the test process, whose thread pools other tests have started, can deadlock.)
DYING_WRITER = """
import os, signal, sys
from attractor.tasks.checkpoint_io import AtomicCheckpointIO
from tests.tasks.test_kill_resume import checkpoint, half_write
AtomicCheckpointIO._write = half_write(lambda: os.kill(os.getpid(), signal.SIGKILL))
AtomicCheckpointIO().save_checkpoint(checkpoint(4), sys.argv[1])
"""


def test_a_write_killed_before_its_rename_leaves_the_last_checkpoint_whole(tmp_path):
    path, io = tmp_path / "checkpoints" / "last.ckpt", AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(2), path)
    proc = subprocess.run([sys.executable, "-c", DYING_WRITER, str(path)], cwd=Path(__file__).parents[2],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, timeout=TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert torch.load(path, weights_only=True)["global_step"] == 2
    assert len(temporaries(path.parent.parent)) == 1
    io.save_checkpoint(checkpoint(6), path)  # the next whole write clears the leftover
    assert torch.load(path, weights_only=True)["global_step"] == 6
    assert list(path.parent.iterdir()) == [path]


class Run:
    """One training process of ``run_dir``, logging to a file (a pipe could fill and stall it)."""

    def __init__(self, run_dir: Path, markers: Path, slow_write_step: int | None = None):
        markers.mkdir(parents=True)
        self.markers, self.log = markers, markers / "log.txt"
        resume = ["last"] if (run_dir / "checkpoints" / "last.ckpt").exists() else []  # else a fresh start
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
        if slow_write_step is not None:
            env["KILL_TEST_SLOW_WRITE_STEP"] = str(slow_write_step)
        self.start = time.time()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), str(markers), *resume], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)

    def wait_for(self, name: str) -> float:
        """When the process made marker ``name`` (waiting for it)."""
        deadline = self.start + TIMEOUT_S
        while not (self.markers / name).exists():
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before {name}:\n{self.tail()}"
            assert time.time() < deadline, f"no {name} after {TIMEOUT_S} s:\n{self.tail()}"
            time.sleep(0.01)
        return (self.markers / name).stat().st_mtime

    def kill(self) -> bool:
        """SIGKILL the process; False if it had already finished (successfully)."""
        finished = self.proc.poll() is not None
        if not finished:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT_S)
        if finished:
            assert self.proc.returncode == 0, self.tail()
        return not finished

    def finish(self) -> None:
        assert self.proc.wait(timeout=TIMEOUT_S) == 0, self.tail()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def spawn():
    """``Run`` that leaves no process behind: any still alive when the test ends is killed."""
    runs = []

    def _spawn(*args, **kwargs) -> Run:
        runs.append(Run(*args, **kwargs))
        return runs[-1]

    yield _spawn
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def last_step(run_dir: Path) -> int:
    """The step of the whole ``last.ckpt`` on disk (0 if none); fails if the file is torn."""
    path = run_dir / "checkpoints" / "last.ckpt"
    if not path.exists():
        return 0
    step = torch.load(path, weights_only=True)["global_step"]
    assert step % EVERY == 0 or step == MAX_STEPS
    return step


def temporaries(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob(".last.ckpt.*.tmp"))


def test_killed_runs_resume_to_the_weights_of_an_uninterrupted_run(tmp_path, spawn):
    rng = random.Random(int(os.environ.get("KILL_TEST_SEED", "0")))  # another seed: other kill moments
    run = tmp_path / "run"
    # The uninterrupted reference trains beside the first process (2 cores, half the wall time).
    reference = spawn(tmp_path / "reference", tmp_path / "m0")
    # 1. Killed while writing its first checkpoint: nothing to resume, a leftover temporary.
    first = spawn(run, tmp_path / "m1", slow_write_step=EVERY)
    first.wait_for("writing")
    assert first.kill()
    assert not (run / "checkpoints" / "last.ckpt").exists() and len(temporaries(run)) == 1
    reference.finish()
    startup = reference.wait_for("train_start") - reference.start
    training = reference.wait_for("train_end") - reference.wait_for("train_start")

    # 2. Restarted fresh despite the temporary; killed at a random moment of its start-up (then no
    #    checkpoint: the next start is fresh again) or of its training (a write may be in flight).
    second = spawn(run, tmp_path / "m2")
    moment = rng.uniform(-1, 1)
    if moment < 0:
        time.sleep((1 + moment) * startup)
    else:
        second.wait_for("train_start")
        time.sleep(moment * training)
    second.kill()
    step = last_step(run)

    # 3. Killed half-way through writing its next checkpoint: the last whole one stays.
    target = min(step + EVERY, MAX_STEPS)  # at MAX_STEPS, the final save of train() is written again
    third = spawn(run, tmp_path / "m3", slow_write_step=target)
    third.wait_for("writing")
    torn = Path((tmp_path / "m3" / "writing").read_text())
    assert third.kill()
    assert last_step(run) == step, "a killed write replaced the last checkpoint"
    assert torn in temporaries(run) and torn.stat().st_size > 0

    # 4. Resumed to the end: the temporaries are cleared and the state is the uninterrupted run's.
    fourth = spawn(run, tmp_path / "m4")
    fourth.finish()
    assert temporaries(run) == []
    a = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == MAX_STEPS
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])  # bit for bit
    adam_a, adam_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert all(torch.equal(adam_a[i][s], adam_b[i][s]) for i in adam_a for s in adam_a[i])
