"""``benchmarks/gradcheck.py --ckpt``: the gradient a trained run uses, against the converged unrolled one."""
import json
import runpy
import sys

import pytest

from attractor.tasks.harness import train
from benchmarks.gradcheck import checkpoint_gradcheck
from tests.tasks.test_trust import TINY, _run


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return train(_run(TINY + ["train.max_steps=4", "train.val_every_steps=4"]), run_dir).last_checkpoint


def test_implicit_gradient_matches_the_unrolled_one_per_group_and_a_truncated_one_does_not(checkpoint):
    exact = checkpoint_gradcheck(str(checkpoint), batch_size=4)
    assert exact["backward"] == "implicit" and exact["health"]["reference"]["converged_frac"] == 1.0
    assert {"backbone", "f_blocks", "gate_logit"} <= set(exact["groups"])
    for group, r in exact["groups"].items():
        assert r["cosine"] > 0.99999 and r["rel_error"] < 1e-4, group
    # one backpropagated iterate (last_k = 1) drops the Neumann terms: a visibly different gradient
    truncated = checkpoint_gradcheck(str(checkpoint), batch_size=4, solver={"backward": "last_k", "last_k": 1})
    assert truncated["groups"]["f_blocks"]["rel_error"] > 10 * exact["groups"]["f_blocks"]["rel_error"]
    assert truncated["all"]["rel_error"] > 1e-3


def test_the_script_writes_its_json(checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "g.json"  # the command, in this process (tests/test_benchmarks.py runs the file form)
    monkeypatch.setattr(sys, "argv", ["benchmarks/gradcheck.py", "--ckpt", str(checkpoint), "--batch", "2",
                                      "--solver", "backward=neumann", "--json", str(out)])
    runpy.run_module("benchmarks.gradcheck", run_name="__main__", alter_sys=True)
    figures = json.loads(out.read_text())
    assert figures["backward"] == "neumann" and figures["checkpoint"] == str(checkpoint)
    assert 0.9 < figures["all"]["cosine"] < 1.0  # Neumann-1: close to the implicit gradient, not equal
