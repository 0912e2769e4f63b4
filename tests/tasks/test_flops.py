"""FLOPs of a training step (attractor.tasks.flops), against a count by hand."""
from attractor.compose import compose
from attractor.tasks.flops import train_step_flops


def test_flops_of_one_block_match_the_hand_count():
    base = ["model=transformer", "task.data.size=4", "task.data.blanks=6", "task.data.n_train=16", "task.data.n_val=4",
            "task.data.n_test=4", "task.batch_size=8", "model.dim=32", "model.n_heads=2"]
    one, two = (train_step_flops(compose([*base, f"model.n_layers={k}"]))["flops_per_step"] for k in (1, 2))
    b, t, d, hidden = 8, 16, 32, 88  # batch, cells, width, SwiGLU width (2/3 of 4d rounded up to 8)
    forward = 2 * b * t * (4 * d * d + 3 * d * hidden) + 2 * 2 * b * t * t * d  # projections, MLP; QK^T and AV
    assert two - one == 3 * forward  # backward: a gradient for the input and one for the weight per product
