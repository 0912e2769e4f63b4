"""Solve health and the stabilisers, each checked on a case where it changes the result: the adjoint
clip, fixed-point correction and the backward warm-up."""
import math

import pytest
import torch

from attractor import build_model
from attractor.config import ConfigError
from attractor.solvers import SolverConfig, solve
from attractor.solvers.monitor import ResidualMonitor
from attractor.solvers.health import HealthTally, solve_rows, summarise_health

# A nilpotent map (W @ W = 0): every solve converges in two steps, yet ||W^T v|| = 3 ||v|| for v = e1,
# so the adjoint's Jacobian term is three times the incoming gradient.
W = torch.tensor([[0.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
V = torch.tensor([[1.0, 0.0]], dtype=torch.float64)


def _bias_gradient(**solver) -> torch.Tensor:
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    cfg = SolverConfig(tol=1e-12, max_iter=20, b_tol=1e-12, **solver)
    eq = solve(lambda z: z @ W.T + b, torch.zeros(1, 2, dtype=torch.float64), cfg)
    (eq.z * V).sum().backward()
    return b.grad  # = the adjoint u (df/db is the identity)


@pytest.mark.parametrize("backward", ["neumann", "implicit"])
def test_adjoint_clip_bounds_the_jacobian_term_by_the_gradient(backward):
    exact = torch.tensor([1.0, 3.0], dtype=torch.float64)  # v + W^T v, exact for both (W^2 = 0)
    torch.testing.assert_close(_bias_gradient(backward=backward), exact)
    # clipped: the term [0, 3] scaled to the norm of v = 1
    torch.testing.assert_close(_bias_gradient(backward=backward, adjoint_clip=True),
                               torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_adjoint_clip_leaves_a_small_jacobian_term_alone():
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    eq = solve(lambda z: 0.3 * z + b, torch.zeros(1, 2, dtype=torch.float64),
               SolverConfig(tol=1e-12, max_iter=30, backward="neumann", adjoint_clip=True))
    (eq.z * V).sum().backward()
    torch.testing.assert_close(b.grad, torch.tensor([1.3, 0.0], dtype=torch.float64))


def test_adjoint_clip_is_refused_where_there_is_no_adjoint():
    with pytest.raises(ConfigError, match="adjoint_clip"):
        SolverConfig(backward="last_k", adjoint_clip=True)


def test_iterate_reservoir_stays_bounded_and_evenly_spaced():
    monitor = ResidualMonitor(lambda z: 0.5 * z, keep=3)
    z = torch.ones(2, 4)
    for _ in range(50):
        z = monitor(z)
    indices = [i for i, _ in monitor.kept]
    assert 3 <= len(indices) <= 6 and indices[0] == 0
    assert len({b - a for a, b in zip(indices, indices[1:])}) == 1  # one stride
    picked = [i for i, _ in monitor.intermediate(50)]
    assert len(picked) == 3 and picked[0] == 0 and picked == sorted(picked)


def _linear_proposal_model(**solver):
    torch.manual_seed(0)
    return build_model({"name": "attractor", "vocab_size": 11, "max_len": 12, "dim": 16, "n_heads": 2,
                        "proposal": "linear", "proposal_weight": 0.0 if solver.get("fp_correction") else 0.1,
                        "solver": {"tol": 1e-6, "max_iter": 30, **solver}}).train()


def test_fixed_point_correction_supervises_intermediate_iterates_and_reaches_the_proposal():
    tokens = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(0))
    # Under the implicit gradient z* does not depend on z0: without correction the proposal's
    # matrix gets no gradient from the task loss at all.
    plain = _linear_proposal_model()
    out = plain(tokens)
    assert out.corrections == []
    out.logits.logsumexp(-1).mean().backward()
    assert plain.proposal.weight.grad is None
    corrected = _linear_proposal_model(fp_correction=2)
    out = corrected(tokens)
    assert len(out.corrections) == 2 and out.corrections[0].shape == out.logits.shape
    # the first corrected point is z0 itself: its read-out is the readout of f(z0)
    assert not torch.allclose(out.corrections[0], out.logits)
    sum(c.logsumexp(-1).mean() for c in out.corrections).backward()
    assert corrected.proposal.weight.grad.abs().sum() > 0
    corrected.eval()
    with torch.no_grad():
        assert corrected(tokens).corrections == []  # inference pays nothing


def test_backward_warmup_uses_its_mode_for_the_first_steps_only():
    cfg = SolverConfig(backward="neumann", adjoint_clip=True, backward_warmup="unrolled", backward_warmup_steps=3)
    assert [cfg.at_step(s).backward for s in range(5)] == ["unrolled"] * 3 + ["neumann"] * 2
    assert not cfg.at_step(0).adjoint_clip and cfg.at_step(3) is cfg
    with pytest.raises(ConfigError, match="backward_warmup"):
        SolverConfig(backward_warmup="last_k")  # no steps given


def test_solve_health_fields_from_rows():
    rows = {"residual": torch.tensor([1e-4, 2e-4, 3e-4, float("nan"), 5e-4]),
            "iterations": torch.tensor([3, 4, 5, 12, 12]),
            "converged": torch.tensor([True, True, True, False, False]),
            "diverged": torch.tensor([False, False, False, True, False])}
    h = {k: float(v) for k, v in summarise_health(rows).items()}
    assert h["converged_frac"] == pytest.approx(0.6) and h["diverged_frac"] == pytest.approx(0.2)
    assert h["residual_p50"] == pytest.approx(3e-4) and h["residual_p90"] == pytest.approx(math.inf)
    assert h["residual_max"] == math.inf and h["iterations_mean"] == pytest.approx(7.2) and h["iterations_max"] == 12
    tally = HealthTally()
    tally.add({k: v[:2] for k, v in rows.items()})
    tally.add({k: v[2:] for k, v in rows.items()})
    assert tally.summary() == pytest.approx({**h, "rows": 5})


def test_a_solve_that_blows_up_counts_as_diverged_though_finite():
    stats = solve(lambda z: -3.0 * z + 1.0, torch.ones(4, 3), SolverConfig(name="fixed_point_iter", max_iter=6),
                  iters=6).stats
    rows = solve_rows(stats, SolverConfig())
    assert torch.isfinite(stats["rel_residual"]).all() and not stats["diverged"].any()
    assert rows["diverged"].all() and not rows["converged"].any()
