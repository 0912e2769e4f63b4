"""Maze format, generator, symmetries and the shortest-path metric."""
from pathlib import Path

import numpy as np
import pytest
import torch

from attractor.data.grid_csv import DataFormatError
from attractor.data.leakage import find_leaks
from attractor.data.maze.augment import augment_tokens, dihedral_perms
from attractor.data.maze.canonical import canonical
from attractor.data.maze.format import ALPHABET, load_csv, write_csv
from attractor.data.maze.generate import generate, generate_split
from attractor.data.maze.metrics import correct
from attractor.data.maze.solver import OK, check

# 4x4, no walls: S top-left, G bottom-right, 6 moves; many shortest paths.
Q = "S   " "    " "    " "   G"
RIGHT_THEN_DOWN = "Sooo" "   o" "   o" "   G"
DOWN_THEN_RIGHT = "S   " "o   " "o   " "oooG"
LONGER = "Sooo" "ooo " "o   " "oooG"  # touches itself
# 5x5 with a short way down the left and a long simple detour over the top.
Q5 = "S   #" " ## #" "    #" " ####" "    G"
SHORT5 = "S   #" "o## #" "o   #" "o####" "ooooG"
LONG5 = "Sooo#" " ##o#" "oooo#" "o####" "ooooG"


def _tokens(s: str) -> torch.Tensor:
    return torch.tensor([[ALPHABET.index(c) + 1 for c in s]])


def test_metric_accepts_alternative_shortest_path_and_rejects_longer():
    x = _tokens(Q)
    assert correct(_tokens(RIGHT_THEN_DOWN), x).item()
    assert correct(_tokens(DOWN_THEN_RIGHT), x).item()
    assert not correct(_tokens(LONGER), x).item()
    assert correct(_tokens(SHORT5), _tokens(Q5)).item()
    assert not correct(_tokens(LONG5), _tokens(Q5)).item()
    assert not correct(_tokens("Sooo" "   o" "   o" "#  G"), x).item()  # added a wall
    assert not correct(_tokens("Sooo" "   o" "    " "   G"), x).item()  # gap in the path
    assert not correct(torch.zeros(1, 16, dtype=torch.long), x).item()


def _csv(tmp_path: Path, q: str, a: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(f"source,q,a,rating\nx,{Q},{RIGHT_THEN_DOWN},6\nx,{q},{a},6\n")
    return path


@pytest.mark.parametrize("q, a, problem", [
    (Q, LONGER, "does not lead from S to G"),
    (Q, "Sooo" "   o" "    " "   G", "does not lead from S to G"),
    ("S # " " #  " "#   " "   G", "S # " " #  " "#   " "   G", "no path from S to G"),
    ("S   " "  S " "    " "   G", "S   " "  S " "    " "   G", "exactly one S and one G"),
    (Q, "Sooo" "   o" "   o" "#  G", "changes a wall"),
    (Q[:-1] + "x", RIGHT_THEN_DOWN, "bad character 'x' at row 4, column 4"),
    (Q + " ", RIGHT_THEN_DOWN, "q has length 17, expected 16"),
    ("So  " "    " "    " "   G", RIGHT_THEN_DOWN, "q contains a path cell"),
])
def test_csv_errors(tmp_path, q, a, problem):
    with pytest.raises(DataFormatError) as e:
        load_csv(_csv(tmp_path, q, a))
    assert e.value.line == 3 and problem in str(e.value) and "m.csv:3: " in str(e.value)


def test_csv_longer_path_is_not_shortest(tmp_path):
    path = tmp_path / "m5.csv"
    path.write_text(f"source,q,a,rating\nx,{Q5},{SHORT5},8\nx,{Q5},{LONG5},14\n")
    with pytest.raises(DataFormatError, match=r"m5.csv:3: marked path is not a shortest path \(shortest is 8 moves, marked 14\)"):
        load_csv(path)


def test_generate_valid_deterministic_and_round_trip(tmp_path):
    gs = generate(20, side=10, seed=3, min_path=14)
    assert np.array_equal(gs.q, generate(20, side=10, seed=3, min_path=14).q)
    status, shortest = check(gs.q, gs.a)
    assert (status == OK).all() and (shortest > 14).all() and np.array_equal(shortest, gs.rating)
    write_csv(tmp_path / "m.csv", gs)
    back = load_csv(tmp_path / "m.csv")
    assert np.array_equal(back.q, gs.q) and np.array_equal(back.a, gs.a)


def test_symmetries_keep_answers_valid_and_leakage_found():
    splits = generate_split(10, 10, side=9, seed=0, n_val=6)
    train, test = splits.train, splits.test
    assert find_leaks(train.q, test.q, canonical) == []
    assert len(splits.val) == 6 and find_leaks(np.concatenate([train.q, test.q]), splits.val.q, canonical) == []
    x, y = train.tokens()
    rng = np.random.default_rng(0)
    for _ in range(8):
        tx, ty = augment_tokens(x[0], y[0], rng)
        assert correct(torch.from_numpy(ty)[None], torch.from_numpy(tx)[None]).item()
    perms = dihedral_perms(9)
    assert len({p.tobytes() for p in perms}) == 8
    planted = train.q[2][perms[5]]
    assert find_leaks(train.q, np.concatenate([test.q, planted[None]]), canonical) == [(10, 2)]
