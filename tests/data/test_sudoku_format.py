"""Sudoku file formats: round trip, and each malformed input naming file, line and problem."""
from pathlib import Path

import numpy as np
import pytest

from attractor.data.grid_csv import DataFormatError
from attractor.data.sudoku.format import load_csv, load_puzzle_list, write_csv
from attractor.data.sudoku.generate import generate

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sudoku"
# A 4x4 puzzle with one solution, and that solution.
Q4 = "1..." + "..1." + ".1.." + "...1"
Q4_UNIQUE = "...." + "..12" + ".1.3" + ".32."
A4 = "1234" + "3412" + "2143" + "4321"


def _csv(tmp_path: Path, *rows: str, header: str = "source,q,a,rating") -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_round_trip(tmp_path):
    gs = generate(5, size=6, seed=1, blanks=14)
    write_csv(tmp_path / "x.csv", gs)
    back = load_csv(tmp_path / "x.csv")
    assert np.array_equal(back.q, gs.q) and np.array_equal(back.a, gs.a)
    assert np.array_equal(back.rating, gs.rating) and back.source == gs.source
    assert list(back.lines) == [2, 3, 4, 5, 6]


def test_good_row_loads(tmp_path):
    gs = load_csv(_csv(tmp_path, f"x,{Q4_UNIQUE},{A4},0"))
    assert gs.q.shape == (1, 16) and gs.a[0].tolist() == [int(c) for c in A4]


@pytest.mark.parametrize("row, problem", [
    (f"x,{Q4_UNIQUE}.,{A4},0", "q has length 17, expected 16"),
    (f"x,{Q4_UNIQUE[:-1]}x,{A4},0", "bad character 'x' at row 4, column 4"),
    (f"x,{Q4_UNIQUE},{A4[:-1]},0", "a has length 15"),
    (f"x,{Q4_UNIQUE},{'1234' * 4},0", "digit 1 appears 4 times in column 1"),
    (f"x,{Q4_UNIQUE[:6] + '4' + Q4_UNIQUE[7:]},{A4},0", "disagrees with the given at row 2, column 3"),
    (f"x,{Q4},{A4},0", "several solutions"),
    (f"x,{Q4_UNIQUE},{A4},hard", "rating 'hard' is not an integer"),
    (f"x,{Q4_UNIQUE},{A4}", "expected 4 columns"),
])
def test_csv_errors_name_file_line_problem(tmp_path, row, problem):
    path = _csv(tmp_path, f"x,{Q4_UNIQUE},{A4},0", row)
    with pytest.raises(DataFormatError) as e:
        load_csv(path)
    assert e.value.line == 3 and e.value.path == str(path)
    assert problem in str(e.value) and str(e.value).startswith(f"{path}:3: ")


def test_no_solution_and_bad_header(tmp_path):
    no_solution = "11.." + "." * 12  # two 1s in a row: contradictory givens
    with pytest.raises(DataFormatError, match=r"nosol.txt:1: puzzle has no solution"):
        load_puzzle_list(_write(tmp_path / "nosol.txt", no_solution))
    with pytest.raises(DataFormatError, match=":1: bad header"):
        load_csv(_csv(tmp_path, f"x,{Q4_UNIQUE},{A4},0", header="q,a"))


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_puzzle_list_solves_and_checks_uniqueness(tmp_path):
    gs = load_puzzle_list(_write(tmp_path / "p.txt", "# comment", "", Q4_UNIQUE.replace(".", "0")))
    assert "".join(map(str, gs.a[0])) == A4 and gs.lines.tolist() == [3]
    with pytest.raises(DataFormatError, match=r"p2.txt:3: puzzle has several solutions"):
        load_puzzle_list(_write(tmp_path / "p2.txt", "#", Q4_UNIQUE, Q4))
    with pytest.raises(DataFormatError, match=r"p3.txt:1: grid length 15"):
        load_puzzle_list(_write(tmp_path / "p3.txt", Q4[:-1]))


@pytest.mark.skipif(not (SHARED / "forum_hardest_1106.txt").exists(), reason="shared data absent")
def test_public_hard_list_loads_unique():
    gs = load_puzzle_list(SHARED / "forum_hardest_1106.txt")
    assert len(gs) == 375 and (gs.q[gs.q > 0] == gs.a[gs.q > 0]).all()
    assert np.median(gs.rating) > 1000  # far harder than random minimal puzzles
