"""Sudoku propagation depth (rounds of singles) and the depth-ladder splits built on it."""
import numpy as np
import pytest

from attractor.config import ConfigError
from attractor.data.leakage import find_leaks
from attractor.data.maze.generate import generate as generate_mazes
from attractor.data.maze.solver import shortest_path_length
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.dataset import SudokuDataModule
from attractor.data.sudoku.depth import NEEDS_SEARCH, propagation_depth
from attractor.data.sudoku.generate import chain_blanks, generate, generate_raw, generate_split
from attractor.data.sudoku.solver import box_shape, solve


def grid(s: str) -> np.ndarray:
    return np.array([int(c) for c in s], np.int64)


def reference_depth(puzzle: np.ndarray) -> int:
    """The definition, written plainly with Python sets: fill all naked and hidden singles per round."""
    n = int(round(len(puzzle) ** 0.5))
    br, bc = box_shape(n)
    g = [int(v) for v in puzzle]
    units = [[r * n + c for c in range(n)] for r in range(n)] + [[r * n + c for r in range(n)] for c in range(n)]
    units += [[(r0 + i) * n + c0 + j for i in range(br) for j in range(bc)]
              for r0 in range(0, n, br) for c0 in range(0, n, bc)]
    rounds = 0
    while 0 in g:
        cand = {i: set(range(1, n + 1)) - {g[j] for u in units if i in u for j in u} for i in range(n * n) if g[i] == 0}
        place: dict[int, int] = {i: next(iter(c)) for i, c in cand.items() if len(c) == 1}
        for u in units:
            for d in set(range(1, n + 1)) - {g[j] for j in u}:
                where = [i for i in u if g[i] == 0 and d in cand[i]]
                if len(where) == 1:
                    if place.get(where[0], d) != d:
                        return NEEDS_SEARCH
                    place[where[0]] = d
        if not place or any(not c for c in cand.values()):
            return NEEDS_SEARCH
        for i, d in place.items():
            g[i] = d
        rounds += 1
    return rounds


def test_hand_worked_4x4_needs_two_rounds():
    # 3 1 . .      round 1: (2,2) has only 2 (row 1,4; column 3,1; box 1), (3,3) only 4 (row 2,3,1), and
    # 4 2 3 1      3 can only go to (2,3) in column 4 (hidden single); (0,2), (0,3) still hold {2, 4}.
    # 1 4 . .      round 2: column 3 now holds 3,2,1 so (0,2) = 4, column 4 holds 1,3,4 so (0,3) = 2.
    # 2 3 1 .
    puzzle = grid("3100423114002310")
    assert solve(puzzle).n_solutions[0] == 1
    assert propagation_depth(puzzle)[0] == 2


def test_trivial_and_search_cases():
    solution = grid("3142423114232314")
    one_blank = solution.copy()
    one_blank[5] = 0
    needs_search = grid("603040000300012004030500000050300400")  # unique, but singles stall
    assert solve(needs_search).n_solutions[0] == 1
    contradictory = grid("1100" + "0" * 12)
    depths = propagation_depth(np.stack([solution, one_blank, np.zeros(16, np.int64), contradictory]))
    assert depths.tolist() == [0, 1, NEEDS_SEARCH, NEEDS_SEARCH]
    assert propagation_depth(needs_search).tolist() == [NEEDS_SEARCH]


@pytest.mark.parametrize("size,blanks", [(4, (4, 12)), (6, (6, 26))])
def test_kernel_matches_the_plain_definition(size, blanks):
    p, _, r = generate_raw(150, size=size, seed=7, blanks=blanks)
    p = p[r >= 0]
    got = propagation_depth(p)
    assert got.tolist() == [reference_depth(q) for q in p]
    assert len(set(got.tolist())) >= 3  # a spread of depths, so the comparison means something


def test_blank_range_is_spread_over_chains_by_index():
    assert chain_blanks((6, 8), 4, 5).tolist() == [7, 8, 6, 7, 8]
    assert chain_blanks(9, 0, 2).tolist() == [9, 9] and chain_blanks(None, 0, 1).tolist() == [-1]
    p, _, r = generate_raw(6, size=6, seed=0, blanks=(10, 12), start=3)
    assert ((p == 0).sum(1) == chain_blanks((10, 12), 3, 6)).all()


def test_ladder_splits_are_balanced_by_depth_and_apart():
    splits = generate_split(30, 40, size=6, seed=0, blanks=(6, 26), n_val=12, train_depths=[1, 2],
                            test_depths=[1, 2, 3, 4, NEEDS_SEARCH])
    for gs, depths, count in ((splits.train, [1, 2], 15), (splits.val, [1, 2], 6),
                              (splits.test, [1, 2, 3, 4, NEEDS_SEARCH], 8)):
        d = propagation_depth(gs.q)
        assert {k: int((d == k).sum()) for k in depths} == {k: count for k in depths}
        assert (solve(gs.q).n_solutions == 1).all()
    assert find_leaks(splits.train.q, splits.test.q, canonical, invariant) == []
    assert find_leaks(np.concatenate([splits.train.q, splits.test.q]), splits.val.q, canonical, invariant) == []


def test_depth_quota_that_cannot_be_met_names_the_depths():
    with pytest.raises(ValueError, match="still wanted per depth"):
        generate(5, size=4, seed=0, blanks=(4, 6), depths=[3])  # 4x4 with <= 6 blanks never needs 3 rounds


@pytest.mark.parametrize("kwargs,key", [
    ({"train_depths": [1, 2]}, "task.data.test_depths"),
    ({"train_depths": [0], "test_depths": [1]}, "task.data.train_depths"),
    ({"train_depths": [1, 1], "test_depths": [1]}, "task.data.train_depths"),
    ({"train_depths": [1], "test_depths": [1, -2]}, "task.data.test_depths"),
    ({"train_depths": [1], "test_depths": [1], "blanks": None}, "task.data.blanks"),
    ({"train_depths": [1], "test_depths": [1], "min_rating": 3}, "task.data.min_rating"),
    ({"blanks": [20, 10]}, "task.data.blanks"),
    ({"blanks": [5, 36]}, "task.data.blanks"),
])
def test_ladder_options_are_checked(kwargs, key):
    with pytest.raises(ConfigError) as err:
        SudokuDataModule(**{"size": 6, "blanks": [6, 26], **kwargs})
    assert err.value.key == key


def test_ladder_datamodule_keeps_depths_in_its_cache(tmp_path):
    kw = dict(size=4, n_train=8, n_val=4, n_test=6, blanks=[5, 11], train_depths=[1], test_depths=[1, 2, 3])
    dm = SudokuDataModule(data_dir=tmp_path, **kw)
    dm.setup()
    assert set(propagation_depth(dm.train_set.q).tolist()) == {1}
    assert sorted(propagation_depth(dm.test_set.q).tolist()) == [1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="generated with"):  # another ladder must not reuse this cache
        SudokuDataModule(data_dir=tmp_path, **{**kw, "test_depths": [1, 2]}).setup()


def test_maze_depth_is_the_shortest_path_length():
    gs = generate_mazes(5, side=9, seed=0, min_path=6)
    assert shortest_path_length(gs.q).tolist() == gs.rating.tolist()
    assert shortest_path_length(np.zeros(81, np.int64)).tolist() == [-1]  # no S and G
