import pytest
import torch
import torch.nn.functional as F

from attractor.config import ConfigError, from_mapping
from attractor.solvers import SolverConfig, hutchinson_frobenius, solve, spectral_radius


def _contractive_problem(seed: int = 0, dim: int = 12, batch: int = 3):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.nn.Parameter((torch.randn(dim, dim, generator=gen, dtype=torch.float64) * 0.4 / dim**0.5))
    x = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    return weight, x, (lambda z: torch.tanh(z @ weight.T + x))


def _weight_grad(cfg: SolverConfig, scale: float = 1.0) -> torch.Tensor:
    weight, x, f = _contractive_problem()
    eq = solve(f, torch.zeros_like(x), cfg)
    (scale * eq.z.sin().sum()).backward()
    return weight.grad


def test_adjoint_stop_mode_is_the_adjoint_residual_absolute_or_relative():
    """``b_stop_mode``: the implicit adjoint stops on ||r|| (abs) or ||r|| / ||g|| (rel). Scaling
    the loss by 1000 scales g: the relative rule stops at the same point (same relative error), the
    absolute one iterates on to a far more accurate gradient."""
    def error(mode: str, scale: float) -> float:
        exact = _weight_grad(SolverConfig(max_iter=80, tol=1e-12, b_tol=1e-13, b_max_iter=200), scale)
        loose = _weight_grad(SolverConfig(max_iter=80, tol=1e-12, b_solver="fixed_point_iter", b_tol=1e-2,
                                          b_max_iter=200, b_stop_mode=mode), scale)
        return ((loose - exact).norm() / exact.norm()).item()

    assert error("rel", 1e3) == pytest.approx(error("rel", 1.0), rel=1e-6) and error("rel", 1.0) > 1e-4
    assert error("abs", 1e3) < 1e-2 * error("rel", 1e3)


@pytest.mark.parametrize("name", ["anderson", "broyden", "fixed_point_iter"])
def test_implicit_gradient_matches_long_unrolled_reference(name):
    reference = _weight_grad(SolverConfig(backward="unrolled", max_iter=150, tol=0.0))
    implicit = _weight_grad(SolverConfig(name=name, backward="implicit", max_iter=60, tol=1e-11, b_tol=1e-12, b_max_iter=80))
    assert F.cosine_similarity(implicit.flatten(), reference.flatten(), dim=0) > 0.99999
    assert (implicit - reference).norm() / reference.norm() < 1e-6


def _truncated_neumann_gradient(weight, x, z_star, steps, tau):
    """The weight gradient of sum(sin(z)) that ``steps`` damped steps from z* give, in closed form:
    tau * sum_{k<steps} (M^T)^k v, M = (1 - tau) I + tau J, pushed through df/dW (steps=None: the
    exact implicit gradient, (I - J^T)^-1 v). Every step starts at z*, so all share J = diag(s) W."""
    s = 1 - torch.tanh(z_star @ weight.T + x).pow(2)
    grad = torch.zeros_like(weight)
    for z_b, s_b in zip(z_star, s):
        jac = s_b[:, None] * weight
        v = torch.cos(z_b)
        if steps is None:
            u = torch.linalg.solve(torch.eye(len(v), dtype=v.dtype) - jac.T, v)
        else:
            m = (1 - tau) * torch.eye(len(v), dtype=v.dtype) + tau * jac
            term, u = tau * v, torch.zeros_like(v)
            for _ in range(steps):
                u, term = u + term, m.T @ term
        grad += torch.outer(u * s_b, z_b)
    return grad


@pytest.mark.parametrize(
    "overrides,steps,tau",
    [
        (dict(backward="implicit"), None, 1.0),
        (dict(backward="phantom", phantom_steps=5, phantom_tau=0.5), 5, 0.5),
        (dict(backward="last_k", last_k=2), 2, 1.0),
        (dict(backward="last_k", last_k=1), 1, 1.0),
        (dict(backward="neumann"), 2, 1.0),  # u = v + J^T v: the first two terms
    ],
)
def test_each_backward_mode_is_its_own_truncated_neumann_series(overrides, steps, tau):
    """Pins each mode's gradient to its closed form at 1e-6, far below the gaps between modes
    (phantom 5 x 0.5 vs exact: 4e-2; last_k 2: 6e-2; last_k 1: 2e-1): a wrong step count, damping
    or start point fails, where a cosine band would not notice."""
    weight, x, f = _contractive_problem()
    with torch.no_grad():
        z_star = solve(f, torch.zeros_like(x), SolverConfig(tol=1e-13, max_iter=60, stop_mode="abs")).z
    expected = _truncated_neumann_gradient(weight.detach(), x, z_star, steps, tau)
    got = _weight_grad(SolverConfig(max_iter=60, tol=1e-13, stop_mode="abs", b_tol=1e-13, b_max_iter=80, **overrides))
    assert (got - expected).norm() / expected.norm() < 1e-6
    if steps is not None:  # an approximation: measurably away from the implicit gradient
        exact = _truncated_neumann_gradient(weight.detach(), x, z_star, None, 1.0)
        assert (got - exact).norm() / exact.norm() > 1e-2


def test_neumann_gradient_is_v_plus_jacobian_transpose_v_on_a_linear_map():
    """f(z) = A z + b, L = w . z*: dL/db = u and dL/dA = u z*^T with u = (I + A^T) w exactly (the
    implicit gradient would be (I - A^T)^-1 w)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.nn.Parameter(torch.randn(6, 6, generator=gen, dtype=torch.float64) * 0.3 / 6**0.5)
    b = torch.nn.Parameter(torch.randn(1, 6, generator=gen, dtype=torch.float64))
    w = torch.randn(6, generator=gen, dtype=torch.float64)
    eq = solve(lambda z: z @ a.T + b, torch.zeros(1, 6, dtype=torch.float64),
               SolverConfig(backward="neumann", tol=1e-14, max_iter=80, stop_mode="abs"))
    (eq.z[0] @ w).backward()
    u = w + a.detach().T @ w
    torch.testing.assert_close(b.grad[0], u, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.grad, torch.outer(u, eq.z[0].detach()), rtol=1e-10, atol=1e-12)


def test_neumann_gradient_is_within_its_bound_of_the_implicit_gradient():
    """On f(z) = 0.1 tanh(W z + x) + b with ||W||_2 = 1 (so ||J|| <= r = 0.1), dL/db is the adjoint
    itself; the dropped terms sum_{k>=2} (J^T)^k v give a relative error at most
    r^2 (1 + r) / (1 - r) = 1.2e-2. It must be within that bound, and not the implicit gradient."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(12, 12, generator=gen, dtype=torch.float64)
    w = w / torch.linalg.matrix_norm(w, ord=2)
    x = torch.randn(4, 12, generator=gen, dtype=torch.float64)
    grads = {}
    for mode in ("implicit", "neumann"):
        b = torch.nn.Parameter(torch.zeros(4, 12, dtype=torch.float64))
        eq = solve(lambda z: 0.1 * torch.tanh(z @ w.T + x) + b, torch.zeros_like(x),
                   SolverConfig(backward=mode, tol=1e-13, max_iter=80, stop_mode="abs", b_tol=1e-13, b_max_iter=80))
        eq.z.sin().sum().backward()
        grads[mode] = b.grad
    r = 0.1
    error = ((grads["neumann"] - grads["implicit"]).norm() / grads["implicit"].norm()).item()
    assert 1e-5 < error <= r**2 * (1 + r) / (1 - r)


@pytest.mark.parametrize("name", ["anderson", "broyden", "fixed_point_iter"])
@pytest.mark.parametrize("iters", [1, 2, 3, 7])
def test_fixed_iteration_count_is_exact(name, iters):
    _, x, f = _contractive_problem()
    calls = []
    counted = lambda z: (calls.append(1), f(z))[1]
    with torch.no_grad():
        eq = solve(counted, torch.zeros_like(x), SolverConfig(name=name), iters=iters, return_trace=True)
    assert len(calls) == iters
    assert eq.stats["iterations"].tolist() == [iters] * 3
    assert eq.stats["residual_trace"].shape == (3, iters)


def _counted(f):
    calls = []
    return calls, (lambda z: (calls.append(1), f(z))[1])


COUNTED_MODES = [dict(backward="implicit"), dict(backward="neumann"), dict(backward="phantom", phantom_steps=3),
                 dict(backward="last_k", last_k=2), dict(backward="unrolled")]


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("mode", COUNTED_MODES, ids=lambda m: m["backward"])
@pytest.mark.parametrize("iters", [3, 7])
def test_iters_n_is_n_evaluations_in_every_backward_mode(mode, grad, iters):
    """The gradient-carrying evaluations are part of the budget, the Jacobian penalty reuses one of
    them, and the backward pass (VJPs on the recorded graph) calls f no more."""
    _, x, f = _contractive_problem()
    calls, counted = _counted(f)
    with torch.set_grad_enabled(grad):
        eq = solve(counted, torch.zeros_like(x), SolverConfig(**mode), iters=iters, return_trace=True,
                   jacobian_penalty=grad)
    assert len(calls) == iters
    assert eq.stats["iterations"].tolist() == [iters] * 3
    assert eq.stats["residual_trace"].shape == (3, iters)
    if grad:
        (eq.z.sum() + eq.jacobian_penalty.sum()).backward()
        assert len(calls) == iters


@pytest.mark.parametrize("mode", COUNTED_MODES, ids=lambda m: m["backward"])
def test_adaptive_iterations_count_the_evaluations_used(mode):
    _, x, f = _contractive_problem()
    calls, counted = _counted(f)
    eq = solve(counted, torch.zeros_like(x), SolverConfig(tol=1e-8, max_iter=40, stop_mode="abs", **mode))
    assert eq.stats["converged"].all()
    assert eq.stats["iterations"].max().item() == len(calls) < 40
    assert (eq.stats["iterations"] > {"implicit": 1, "neumann": 1, "phantom": 3, "last_k": 2, "unrolled": 0}[mode["backward"]]).all()


@pytest.mark.parametrize("name", ["anderson", "fixed_point_iter"])
@pytest.mark.parametrize("stop_mode", ["abs", "rel"])
def test_damped_solve_stops_on_the_true_residual(name, stop_mode):
    """torchdeq's fixed-point iteration stops on tau * ||f(z) - z||: at tau = 0.5, up to twice the tolerance."""
    _, x, f = _contractive_problem(batch=16)
    tol = 1e-6
    with torch.no_grad():
        eq = solve(f, torch.zeros_like(x), SolverConfig(name=name, tau=0.5, tol=tol, max_iter=200, stop_mode=stop_mode),
                   return_trace=True)
    assert eq.stats["iterations"].max() < 200
    assert eq.stats["converged"].all()
    assert (eq.stats[f"{stop_mode}_residual"] < tol).all()
    trace = eq.stats["residual_trace"]
    assert (trace.gather(1, eq.stats["iterations"][:, None] - 1) < tol).all()


def test_one_iteration_returns_f_of_z0():
    _, x, f = _contractive_problem()
    with torch.no_grad():
        for name in ("anderson", "broyden", "fixed_point_iter"):
            eq = solve(f, torch.zeros_like(x), SolverConfig(name=name), iters=1)
            assert torch.allclose(eq.z, f(torch.zeros_like(x)))


@pytest.mark.parametrize("name", ["anderson", "broyden", "fixed_point_iter"])
def test_adaptive_solve_stops_at_tolerance_within_budget(name):
    _, x, f = _contractive_problem()
    with torch.no_grad():
        eq = solve(f, torch.zeros_like(x), SolverConfig(name=name, tol=1e-6, max_iter=40, stop_mode="abs"))
        loose = solve(f, torch.zeros_like(x), SolverConfig(name=name, tol=1e-2, max_iter=40, stop_mode="abs"))
    assert eq.stats["converged"].all()
    assert (eq.stats["abs_residual"] < 1e-6).all()
    assert ((eq.z - f(eq.z)).norm(dim=1) < 1e-5).all()
    assert (eq.stats["iterations"] <= 40).all()
    assert (loose.stats["iterations"] < eq.stats["iterations"]).all()


def test_budget_too_small_is_reported_not_converged():
    _, x, f = _contractive_problem()
    with torch.no_grad():
        eq = solve(f, torch.zeros_like(x), SolverConfig(tol=1e-12, max_iter=3, stop_mode="abs"))
    assert not eq.stats["converged"].any()
    assert eq.stats["iterations"].tolist() == [3, 3, 3]


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("name", "newton", "solver.name: 'newton' is not one of"),
        ("tol", -1e-3, "solver.tol: must be >= 0"),
        ("max_iter", 0, "solver.max_iter: must be >= 1"),
        ("backward", "adjoint", "solver.backward: 'adjoint' is not one of"),
        ("stop_mode", "relative", "solver.stop_mode"),
        ("b_solver", "simple_fixed_point_iter", "solver.b_solver"),
        ("f_stop_mode", "abs", "solver.f_stop_mode: unknown key"),
        ("max_iter", 2.5, "solver.max_iter: expected an integer"),
    ],
)
def test_bad_solver_config_names_the_field(key, value, match):
    with pytest.raises(ConfigError, match=match):
        from_mapping(SolverConfig, {key: value}, "solver")


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(name="broyden", tau=0.5), "solver.tau: Broyden has no damping"),
        (dict(b_solver="broyden", tau=0.5), "solver.tau: Broyden has no damping"),
        (dict(name="broyden", backward="phantom", anderson_m=7), "solver.anderson_m: only Anderson"),
        (dict(name="fixed_point_iter", backward="last_k", anderson_lam=1e-4), "solver.anderson_lam: only Anderson"),
        (dict(backward="phantom", phantom_steps=30, max_iter=30), "solver.phantom_steps: must be < max_iter=30"),
    ],
)
def test_options_no_solver_reads_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        from_mapping(SolverConfig, overrides, "solver")


def test_options_read_somewhere_are_accepted():
    from_mapping(SolverConfig, dict(name="broyden", anderson_m=7, b_solver="anderson"), "solver")  # by the adjoint
    from_mapping(SolverConfig, dict(b_solver="broyden", backward="phantom", tau=0.5), "solver")  # no adjoint solve


@pytest.mark.parametrize("name", ["anderson", "broyden", "fixed_point_iter"])
@pytest.mark.parametrize("grad", [False, True])
def test_non_finite_solve_is_flagged_per_sample_without_raising(name, grad):
    """Sample 0 iterates z^2 + 1 (no real fixed point: overflows to inf, then NaN); sample 1 a contraction."""
    blows_up = torch.tensor([True, False])[:, None]
    f = lambda z: torch.where(blows_up, z * z + 1, 0.5 * torch.tanh(z) + 0.1)
    z0 = torch.zeros(2, 4, requires_grad=grad)
    with torch.set_grad_enabled(grad):
        eq = solve(f, z0, SolverConfig(name=name, tol=1e-6, max_iter=30))
    assert eq.stats["diverged"].tolist() == [True, False]
    assert eq.stats["converged"].tolist() == [False, True]


def test_hutchinson_is_per_element_on_a_linear_map():
    """f(z) = A z: J = A for every sample, so the estimate's mean is ||A||_F^2 / n (n = 8 features)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(8, 8, generator=gen, dtype=torch.float64)
    z = torch.randn(64, 8, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(0)
    estimate = hutchinson_frobenius(z @ a.T, z, samples=50, create_graph=False).mean()
    torch.testing.assert_close(estimate, a.pow(2).sum() / 8, rtol=0.03, atol=0)


def test_hutchinson_estimate_matches_exact_jacobian_norm():
    torch.manual_seed(0)
    weight = torch.randn(6, 6, dtype=torch.float64)
    z = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    fz = torch.tanh(z @ weight.T)
    exact = torch.stack([torch.autograd.functional.jacobian(lambda v: torch.tanh(v @ weight.T), z[i].detach()).pow(2).sum()
                         for i in range(2)]) / 6
    estimate = hutchinson_frobenius(fz, z, samples=4000, create_graph=False)
    assert torch.allclose(estimate, exact, rtol=0.08)


def test_spectral_radius_matches_largest_eigenvalue():
    torch.manual_seed(0)
    sym = torch.randn(5, 5, dtype=torch.float64)
    sym = sym + sym.T
    radius = spectral_radius(lambda z: z @ sym.T, torch.randn(2, 5, dtype=torch.float64), iters=300)
    assert torch.allclose(radius, torch.linalg.eigvalsh(sym).abs().max().expand(2), rtol=1e-4)


def test_non_finite_anderson_falls_back_to_plain_iteration(monkeypatch):
    import attractor.solvers.forward as forward

    monkeypatch.setattr(forward, "anderson", lambda f, x0, *args: torch.full_like(x0, float("nan")))
    _, x, f = _contractive_problem()
    with torch.no_grad():
        eq = solve(f, torch.zeros_like(x), SolverConfig(name="anderson", tol=1e-8, max_iter=60, stop_mode="abs"))
    assert eq.stats["converged"].all()
    assert torch.allclose(eq.z, f(eq.z), atol=1e-6)
