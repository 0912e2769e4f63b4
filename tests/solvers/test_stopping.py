"""Stopping rules of the forward solve: torchdeq's Anderson reproduced, the stop scope, the stop stride,
the fixed-iteration path that never reads a value back."""
import pytest
import torch
from torchdeq.solver import get_solver

from attractor import build_model
from attractor.config import ConfigError
from attractor.solvers import SolverConfig, solve


def _problem(rows: int = 6, dim: int = 10, dtype=torch.float64, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(dim, dim, generator=gen, dtype=dtype) * 0.6 / dim**0.5
    x = torch.randn(rows, dim, generator=gen, dtype=dtype)
    return x, (lambda z: torch.tanh(z @ weight.T + x))


def _counted(f):
    calls = []
    return calls, (lambda z: (calls.append(1), f(z))[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tol,tau", [(1e-5, 1.0), (1e-4, 0.7), (-1.0, 1.0)])
def test_anderson_gives_torchdeqs_iterates_bit_for_bit(dtype, tol, tau):
    """At the per-row stop tested every evaluation, our Anderson is torchdeq's: same estimate, same
    number of evaluations (tol < 0: the whole budget)."""
    x, f = _problem(dtype=dtype)
    ours_calls, ours_f = _counted(f)
    theirs_calls, theirs_f = _counted(f)
    cfg = SolverConfig(max_iter=60, tol=max(tol, 0.0), anderson_lam=1e-4, tau=tau, stop_mode="rel")
    with torch.no_grad():
        ours = solve(ours_f, torch.zeros_like(x), cfg, iters=None if tol >= 0 else 60).z
        theirs, _, _ = get_solver("anderson")(theirs_f, torch.zeros_like(x), max_iter=60, tol=tol, stop_mode="rel",
                                              m=5, lam=1e-4, tau=tau, return_final=tol < 0)
    assert len(ours_calls) == len(theirs_calls) and (tol < 0 or len(ours_calls) < 60)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name", ["anderson", "fixed_point_iter"])
def test_stop_every_k_tests_at_multiples_of_k_only(name):
    x, f = _problem()
    counts = {}
    for every in (1, 4):
        calls, counted = _counted(f)
        with torch.no_grad():
            eq = solve(counted, torch.zeros_like(x), SolverConfig(name=name, max_iter=60, tol=1e-6, stop_every=every,
                                                                  anderson_lam=1e-4))
        counts[every] = len(calls)
        assert eq.stats["converged"].all()
    assert counts[1] % 4 != 0 and counts[4] == 4 * -(-counts[1] // 4)


@pytest.mark.parametrize("name", ["anderson", "fixed_point_iter"])
def test_stop_every_zero_is_the_fixed_iteration_solve(name):
    x, f = _problem()
    calls, counted = _counted(f)
    with torch.no_grad():
        free = solve(counted, torch.zeros_like(x), SolverConfig(name=name, max_iter=17, stop_every=0))
        fixed = solve(f, torch.zeros_like(x), SolverConfig(name=name, max_iter=17), iters=17)
    assert len(calls) == 17 and torch.equal(free.z, fixed.z)
    assert free.stats["iterations"].tolist() == [17] * 6


def _slow_row_problem():
    """Two samples of four rows; in sample 0 one small row contracts slowly (0.9 per step), every
    other row fast (0.2): a slow position that barely moves its sequence's residual."""
    rate = torch.full((8, 1), 0.2, dtype=torch.float64)
    rate[1] = 0.9
    target = torch.ones(8, 6, dtype=torch.float64)
    target[1] = 0.05
    return lambda z: target + rate * (z - target)


def _iterations(scope: str, samples: int | None = 2) -> tuple[int, torch.Tensor]:
    calls, f = _counted(_slow_row_problem())
    cfg = SolverConfig(name="fixed_point_iter", max_iter=200, tol=1e-4, stop_scope=scope)
    with torch.no_grad():
        eq = solve(f, torch.zeros(8, 6, dtype=torch.float64), cfg, samples=samples)
    return len(calls), eq


def test_per_sample_stop_ends_before_every_row_meets_the_tolerance():
    rows, by_row = _iterations("row")
    per_sample, by_sample = _iterations("sample")
    per_batch, _ = _iterations("batch")
    assert per_batch <= per_sample < rows
    assert by_sample.stats["converged"].all() and by_sample.stats["rel_residual"][1] > 1e-4
    assert by_row.stats["rel_residual"].max() < 1e-4
    # each row counts its sample's stop: the fast sample stopped long before the slow one
    assert by_sample.stats["iterations"][4:].max() < by_sample.stats["iterations"][:4].min()


def test_per_sample_stop_without_groups_is_the_per_row_stop():
    rows, by_row = _iterations("row", samples=None)
    per_sample, by_sample = _iterations("sample", samples=None)
    assert rows == per_sample and torch.equal(by_row.z, by_sample.z)


def test_singular_least_squares_takes_a_plain_step_instead_of_raising():
    """f = identity with no regulariser: every Anderson system is singular (torchdeq's
    ``linalg.solve`` raised); each row then takes a plain step, which stays at the starting point."""
    z0 = torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        eq = solve(lambda z: z.clone(), z0, SolverConfig(max_iter=6, tol=0.0, anderson_lam=0.0), iters=6)
    assert torch.equal(eq.z, z0)


@pytest.mark.parametrize("backward", ["neumann", "last_k", "implicit"])
def test_fixed_iteration_training_step_never_reads_a_value_back(monkeypatch, backward):
    """stop_every=0: the forward solve and its backward run without one value read back to the host
    (no ``bool``/``item``/``float``/``int`` of a tensor), the condition for a GPU solve without syncs."""
    solver = dict(max_iter=6, tol=1e-3, stop_every=0, backward=backward, last_k=1, b_solver="fixed_point_iter",
                  b_max_iter=4, b_tol=0.0)
    torch.manual_seed(0)
    model = build_model(dict(name="attractor", vocab_size=11, max_len=8, dim=16, n_heads=2, causal=True,
                             solver=solver)).train()
    tokens = torch.randint(0, 11, (2, 8))

    def refuse(*args):
        raise AssertionError("a tensor value was read back to the host")

    for name in ("__bool__", "item", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    out = model(tokens)
    out.logits.sum().backward()
    monkeypatch.undo()
    assert out.stats["iterations"].tolist() == [6, 6]


def test_stop_options_are_checked():
    with pytest.raises(ConfigError, match="stop_every"):
        SolverConfig(stop_every=-1)
    with pytest.raises(ConfigError, match="stop_scope"):
        SolverConfig(name="broyden", stop_scope="sample")
    with pytest.raises(ConfigError, match="stop_every"):  # the implicit adjoint's Broyden tests every step too
        SolverConfig(backward="implicit", b_solver="broyden", stop_every=0)
