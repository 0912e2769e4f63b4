import json

import pytest
import torch
from torch.utils.data import Subset

from attractor.config import ConfigError, from_mapping
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.puzzle import puzzle_test_set, score
from attractor.evaluation.scaling.config import ScalingConfig
from attractor.evaluation.scaling.energies import sharpness
from attractor.evaluation.scaling.particles import NoiseConfig, check_scalable, initial_states, latent_map, proposal
from attractor.evaluation.scaling.run import VERIFIERS, collect, external_for, run_scaling
from attractor.evaluation.scaling.select import Cloud, breadth_rows, choices, methods
from attractor.models import build_model
from attractor.particles.weights import WeightSpec
from attractor.tasks.config import validate_run
from attractor.tasks.harness import build_datamodule, datamodule_class, train
from attractor.tasks.puzzle import PUZZLES
from tests.conftest import compose_run, run_command

TINY = ["experiment=sudoku_smoke", "model.dim=16", "model.n_heads=2", "logger=none", "eval_after_fit=false",
        "task.data.n_train=64", "task.data.n_test=12", "task.batch_size=16", "task.data.blanks=6"]
SPEC = PUZZLES["sudoku"]


def _run(overrides):
    cfg = compose_run(overrides)
    return validate_run(cfg, datamodule_class(cfg.task.name))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny 6x6 attractor trained for a few steps, its run, and its test set."""
    run_dir = tmp_path_factory.mktemp("scaling_run")
    run = _run([*TINY, "train.max_steps=3", "train.val_every_steps=3"])
    train(run, run_dir)
    dm = build_datamodule(run)
    dm.setup("test")
    return run_dir / "checkpoints" / "last.ckpt", run, dm.test_dataloader().dataset


def _model_and_data(name):
    run = _run([*TINY, f"model={name}"])
    dm = build_datamodule(run)
    dm.setup("test")
    torch.manual_seed(0)
    return build_model(run.model).eval(), dm.test_dataloader().dataset


def _cfg(**kw):
    return from_mapping(ScalingConfig, {"energies": ["residual", "nll"], **kw}, "scaling")


@pytest.mark.parametrize("name", ["attractor", "looped"])
def test_one_unperturbed_particle_is_the_models_own_trajectory(name):
    model, data = _model_and_data(name)
    cfg = _cfg(noise={"kind": "gaussian", "scale": 1.0})  # particle 0 stays the proposal whatever the noise
    cloud = collect(model, SPEC, VERIFIERS["sudoku"], data, 1, 5, cfg, cfg.noise, cfg.energies, "cpu")
    inputs = torch.stack([data[i]["inputs"] for i in range(len(data))])
    with torch.no_grad():
        grids = model(inputs, mode="iters=5").logits.argmax(dim=-1).to(torch.uint8).numpy()
    assert [a[0] for a in cloud.answers] == [g.tobytes().hex() for g in grids]
    assert cloud.iterations.flatten().tolist() == [5] * len(data)


def test_batched_and_unbatched_particles_agree():
    model, data = _model_and_data("attractor")
    data = Subset(data, range(5))
    cfg = _cfg(noise={"kind": "gaussian", "scale": 0.5})
    big = collect(model, SPEC, VERIFIERS["sudoku"], data, 4, 3, cfg, cfg.noise, cfg.energies, "cpu")
    one_by_one = collect(model, SPEC, VERIFIERS["sudoku"], data, 4, 3, _cfg(noise=cfg.noise, max_batch=4), cfg.noise,
                         cfg.energies, "cpu")
    assert big.answers == one_by_one.answers
    assert (big.energies["residual"].std(dim=1) > 0).all()  # the noise made each puzzle's particles differ
    for name in cfg.energies:
        torch.testing.assert_close(big.energies[name], one_by_one.energies[name], rtol=1e-4, atol=1e-6)


def _cloud(answers, correct, energy, cells=None):
    n, k = len(answers), len(answers[0])
    cells = torch.zeros(n, k, dtype=torch.float64) if cells is None else torch.tensor(cells, dtype=torch.float64)
    return Cloud(answers, torch.tensor(correct), cells, torch.zeros(n, k, dtype=torch.bool),
                 torch.ones(n, k, dtype=torch.long), torch.zeros(n, k, dtype=torch.float64),
                 {"e": torch.tensor(energy, dtype=torch.float64)})


def test_uniform_weights_reproduce_majority_and_energy_weights_can_differ():
    g = torch.Generator().manual_seed(0)
    answers = [[str(int(a)) for a in torch.randint(0, 3, (7,), generator=g)] for _ in range(200)]
    correct = [[a == "1" for a in row] for row in answers]
    cloud = _cloud(answers, correct, torch.rand(200, 7, generator=g).tolist())
    # Each method's index is the first particle holding its answer: equal indices, equal answers.
    chosen = {m.label: i for m, i in choices(cloud, 7, methods(["e"], [WeightSpec("uniform"),
                                                                      WeightSpec("boltzmann", {"beta": 50.0})])).items()}
    assert torch.equal(chosen["gibbs[uniform]"], chosen["majority"])
    # A sharp Boltzmann weighting follows the lowest energy, not the count.
    assert torch.equal(chosen["gibbs[e|boltzmann(beta=50.0)]"], chosen["lowest_energy[e]"])
    assert not torch.equal(chosen["lowest_energy[e]"], chosen["majority"])


def test_verifier_takes_the_first_valid_particle_and_proposal_the_first():
    cloud = _cloud([["a", "b", "b"]], [[False, True, True]], [[0.0, 1.0, 2.0]], cells=[[0.5, 1.0, 1.0]])
    cloud.valid[0, 2] = True
    chosen = {m.label: int(i[0]) for m, i in choices(cloud, 3, methods(["e"], [])).items()}
    assert chosen == {"proposal": 0, "majority": 1, "lowest_energy[e]": 0, "verifier": 2}
    rows = {r["method"]: r for r in breadth_rows(cloud, [3], methods(["e"], []), "iters=1")}
    assert {m: (r["accuracy"], r["cell_accuracy"]) for m, r in rows.items()} == {
        "proposal": (0.0, 0.5), "majority": (1.0, 1.0), "lowest_energy[e]": (0.0, 0.5), "verifier": (1.0, 1.0)}


def test_sharpness_matches_the_exact_jacobian():
    torch.manual_seed(0)
    a = torch.randn(6, 6)
    s = a @ a.T / 6 + 0.1 * torch.eye(6)  # positive definite: J = diag(sech^2) S has real positive eigenvalues

    def f(z):
        return torch.tanh(z) @ s

    z = torch.randn(3, 6)
    jac = [torch.autograd.functional.jacobian(f, z[i:i + 1])[0, :, 0] for i in range(3)]
    exact_radius = torch.stack([torch.linalg.eigvals(j).abs().max() for j in jac])
    torch.testing.assert_close(sharpness(f, z, "spectral_radius", 200, 1), exact_radius, rtol=1e-3, atol=1e-5)

    # The Frobenius estimate, through the real model's latent map on a 4-cell latent (64 numbers);
    # 800 probes as 400 copies of the same point with 2 probes each.
    model, data = _model_and_data("attractor")
    tokens = data[0]["inputs"][None, :4].clone()
    z0 = torch.randn(1, 4, 16)
    jm = torch.autograd.functional.jacobian(latent_map(model, tokens), z0).reshape(64, 64)
    estimate = sharpness(latent_map(model, tokens.repeat(400, 1)), z0.repeat(400, 1, 1), "jacobian_frobenius", 1, 2)
    assert estimate.mean().item() == pytest.approx((jm.pow(2).sum() / 64).item(), rel=0.15)


def test_report_schema_and_single_trajectory_baseline(trained, tmp_path):
    ckpt, run, test = trained
    cfg = _cfg(depths=[1, 3, "halt"], ks=[1, 2], breadth_depths=[3], energies=["residual", "nll", "entropy",
               "spectral_radius", "jacobian_frobenius", "trajectory_spectral_entropy"], power_iters=3, probes=1,
               halt_max_iter=8)
    report = run_scaling(ckpt, tmp_path, cfg)["test"]
    saved = json.loads((tmp_path / "test" / "scaling.json").read_text())
    # The saved JSON is strict: an undefined AUROC (NaN in the report) is null there.
    assert saved == json.loads(json.dumps(report), parse_constant=lambda _: None)
    assert saved["n_items"] == len(test) == 12 and saved["full_test_set"]
    assert [r["depth"] for r in saved["depth"]] == ["iters=1", "iters=3", "halt(tol=0.0001,max=8)"]
    for row in saved["depth"]:
        assert len(row["items"]["rel_residual"]) == len(row["items"]["correct"]) == 12
    labels = [m.label for m in methods(cfg.energies, cfg.weightings)]
    assert [(r["k"], r["method"]) for r in saved["breadth"]] == [(k, m) for k in (1, 2) for m in labels]
    for row in saved["breadth"]:
        assert row["ci95"][0] <= row["accuracy"] <= row["ci95"][1] and row["n"] == 12
        assert row["fevals"] == 3 * row["k"]
    assert [r["method"] for r in saved["breadth"] if r["upper_bound"]] == ["verifier"] * 2
    # K = 1 unperturbed equals the depth sweep at the same depth and the evaluator's own score.
    model = load_checkpoint(ckpt).model
    own = score(model, SPEC, test, "iters=3", 64, "cpu")["exact_acc"]
    k1 = {r["method"]: r["accuracy"] for r in saved["breadth"] if r["k"] == 1}
    assert set(k1.values()) == {own} == {saved["depth"][1]["accuracy"]}
    assert saved["single_trajectory"]["mode"] == "solver"
    assert set(saved["energy_auroc"]["iters=3"]) == set(cfg.energies)
    for plot in saved["plots"].values():
        assert (tmp_path / "test" / plot).stat().st_size > 0


def test_transformer_checkpoints_and_mis_sized_external_sets_are_refused(shared_data):
    run = _run([*TINY, "model=transformer"])
    with pytest.raises(TypeError, match="attractor or looped"):
        check_scalable(build_model(run.model))
    with pytest.raises(ValueError, match="9x9 puzzles but .* 6x6 model"):
        external_for(str(shared_data / "sudoku" / "magictour_top1465.txt"), run, "x.ckpt")


@pytest.mark.parametrize("node,key", [({"depths": [0]}, "scaling.depths"), ({"ks": []}, "scaling.ks"),
                                      ({"energies": ["vibes"]}, "scaling.energies"),
                                      ({"weights": [{"name": "softmax"}]}, "scaling.weights"),
                                      ({"noise": {"kind": "dropout", "scale": 1.0}}, "scaling.noise.scale")])
def test_config_errors_name_their_key(node, key):
    with pytest.raises(ConfigError) as err:
        from_mapping(ScalingConfig, node, "scaling")
    assert err.value.key == key


def test_dropout_particles_differ_but_keep_the_proposal():
    model, data = _model_and_data("attractor")
    inputs = torch.stack([data[i]["inputs"] for i in range(3)])
    states = initial_states(model, inputs, 4, NoiseConfig("dropout", 0.3), range(3), seed=0).view(3, 4, *inputs.shape[1:], -1)
    torch.testing.assert_close(states[:, 0], proposal(model, inputs))
    assert not torch.allclose(states[:, 1], states[:, 2])
    assert all(m.p == 0.0 and not m.training for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_test_data_generates_another_test_set_at_the_models_size(trained, tmp_path):
    ckpt, run, _ = trained
    cfg = _cfg(depths=[2], ks=[1, 2], breadth_depths=[2], energies=["residual"])
    report = run_scaling(ckpt, tmp_path, cfg, test_data={"blanks": 12, "n_test": 9})["test"]
    assert report["n_items"] == 9 and report["generation"]["blanks"] == 12
    assert all(0.0 <= row["cell_accuracy"] <= 1.0 for row in report["depth"] + report["breadth"])
    test, generation = puzzle_test_set(run, {"blanks": 12, "n_test": 9})
    assert generation["blanks"] == 12 and generation["n_test"] == 9
    assert all(int((test[i]["inputs"] == 1).sum()) == 12 for i in range(len(test)))
    for bad, match in (({"blankz": 3}, "unknown fields \\['blankz'\\]"), ({"size": 4}, "does not fit the model")):
        with pytest.raises(ConfigError, match=match) as err:
            puzzle_test_set(run, bad)
        assert err.value.key == "test_data"


def test_eval_py_scale_action_writes_the_report(trained, tmp_path, monkeypatch, capsys):
    ckpt, _, _ = trained
    code = run_command("eval.py", ["action=scale", f"ckpt={ckpt}", f"out_dir={tmp_path}", "scaling.depths=[1,2]",
                                   "scaling.ks=[1,2]", "scaling.breadth_depths=[2]", "scaling.energies=[nll]",
                                   "scaling.plot_methods=[]"], monkeypatch)
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    report = json.loads((tmp_path / "test" / "scaling.json").read_text())
    assert [r["depth"] for r in report["depth"]] == ["iters=1", "iters=2"]
    assert "K=2 @ iters=2" in out.out and "model's own (solver)" in out.out


def test_q_halt_energy_is_minus_log_probability_of_solved_and_every_weighting_accepts_it():
    """The Q-head's logit can be negative; its energy -log sigmoid(q) cannot, so E^-p weighting works."""
    model, data = _model_and_data("trm")
    cfg = _cfg(energies=["q_halt"], noise={"kind": "random", "scale": 1.0})
    cloud = collect(model, SPEC, VERIFIERS["sudoku"], data, 3, 1, cfg, cfg.noise, cfg.energies, "cpu")
    inputs = torch.stack([data[i]["inputs"] for i in range(len(data))])
    with torch.no_grad():
        q = model(inputs, mode="iters=1").stats["q_halt"].double()
    torch.testing.assert_close(cloud.energies["q_halt"][:, 0], -torch.nn.functional.logsigmoid(q))  # particle 0: proposal
    assert (cloud.energies["q_halt"] >= 0).all()
    rows = breadth_rows(cloud, [3], methods(cfg.energies, cfg.weightings), "iters=1")
    assert {"gibbs[q_halt|inverse_power(p=2.0)]", "lowest_energy[q_halt]"} <= {r["method"] for r in rows}
