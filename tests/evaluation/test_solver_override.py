"""Changing when the solve stops at inference (eval.py solver.tol / solver.max_iter)."""
import pytest
import torch

from attractor.config import ConfigError
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.puzzle import evaluate_checkpoint
from tests.checkpoints import run_config, save_checkpoint
from tests.conftest import run_command

TINY = ["experiment=sudoku_smoke", "model.dim=16", "model.n_heads=2", "task.data.n_train=16", "task.data.n_val=4",
        "task.data.n_test=8", "task.data.blanks=6", "solver.max_iter=12", "solver.tol=1e-6"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    run = run_config(TINY)
    path = tmp_path_factory.mktemp("override") / "last.ckpt"
    save_checkpoint(run, path)
    return path, run


def test_overrides_reach_the_models_solver_and_keep_its_weights(ckpt):
    path, _ = ckpt
    as_trained, loose = load_checkpoint(path), load_checkpoint(path, solver={"tol": 0.5, "max_iter": 40})
    assert (as_trained.model.cfg.solver.tol, as_trained.model.cfg.solver.max_iter) == (1e-6, 12)
    assert (loose.model.cfg.solver.tol, loose.model.cfg.solver.max_iter) == (0.5, 40)
    for a, b in zip(as_trained.model.parameters(), loose.model.parameters()):
        assert torch.equal(a, b)


def test_a_looser_tolerance_stops_the_solve_sooner_and_eval_json_records_it(ckpt, tmp_path):
    path, _ = ckpt
    tight = evaluate_checkpoint(path, tmp_path, modes=["solver"], device="cpu")
    loose = evaluate_checkpoint(path, tmp_path, modes=["solver"], device="cpu", solver={"tol": 0.5})
    assert loose["mean_iterations"] < tight["mean_iterations"] - 1
    assert loose["solver_overrides"] == {"tol": 0.5} and tight["solver_overrides"] == {}


@pytest.mark.parametrize("solver, key", [({"tol": -1.0}, "solver.tol"), ({"max_iters": 3}, "solver.max_iters")])
def test_bad_overrides_name_their_key(ckpt, solver, key):
    path, _ = ckpt
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_checkpoint(path, solver=solver)


def test_eval_py_refuses_a_solver_override_it_would_ignore(ckpt, monkeypatch, capsys):
    code = run_command("eval.py", ["action=scale", f"ckpt={ckpt[0]}", "solver.tol=0.1"], monkeypatch)
    out = capsys.readouterr()
    assert code != 0 and "solver: changes the solve eval.py scores" in out.err + out.out
