"""The generate / validate / leakage commands and their exit codes."""
import numpy as np

from attractor.data.cli import main
from attractor.data.maze.__main__ import COMMANDS as MAZE
from attractor.data.sudoku.__main__ import COMMANDS as SUDOKU
from attractor.data.sudoku.augment import random_transform
from attractor.data.sudoku.format import load_csv, write_csv


def test_sudoku_generate_validate_leakage(tmp_path, capsys):
    out = tmp_path / "sd"
    assert main(SUDOKU, ["generate", "--out", str(out), "--train", "6", "--test", "4", "--size", "6", "--seed", "1"]) == 0
    assert main(SUDOKU, ["validate", str(out / "train.csv"), str(out / "test.csv")]) == 0
    assert main(SUDOKU, ["leakage", "--train", str(out / "train.csv"), "--test", str(out / "test.csv")]) == 0
    test = load_csv(out / "test.csv")
    train = load_csv(out / "train.csv")
    t = random_transform(6, np.random.default_rng(0))
    test.q[1], test.a[1] = t.apply(train.q[0]), t.apply(train.a[0])
    write_csv(out / "leaky.csv", test)
    capsys.readouterr()
    assert main(SUDOKU, ["leakage", "--train", str(out / "train.csv"), "--test", str(out / "leaky.csv")]) == 1
    assert "leaky.csv:3 is a symmetric variant of" in capsys.readouterr().out


def test_validate_fails_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,q,a,rating\nx,S  G,S  G,1\n")
    assert main(MAZE, ["validate", str(bad)]) == 1
    assert f"{bad}:2: " in capsys.readouterr().err
    assert main(SUDOKU, ["validate", str(tmp_path / "missing.csv")]) == 1


def test_maze_generate_then_validate(tmp_path):
    out = tmp_path / "mz"
    assert main(MAZE, ["generate", "--out", str(out), "--train", "5", "--test", "3", "--side", "9"]) == 0
    assert main(MAZE, ["validate", str(out / "train.csv"), str(out / "test.csv")]) == 0
    assert not (out / "val.csv").exists()


def test_generate_val_then_validate_folder_and_leakage(tmp_path, capsys):
    out = tmp_path / "sd"
    args = ["--train", "8", "--val", "4", "--test", "5", "--size", "6", "--blanks", "10", "--seed", "2"]
    assert main(SUDOKU, ["generate", "--out", str(out), *args]) == 0
    assert "8 train, 4 val, 5 test rows" in capsys.readouterr().out
    assert main(SUDOKU, ["validate", str(out)]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        f"OK {out / s}.csv" for s in ("train", "val", "test")]
    files = {s: str(out / f"{s}.csv") for s in ("train", "val", "test")}
    assert main(SUDOKU, ["leakage", "--train", files["train"], "--val", files["val"], "--test", files["test"]]) == 0
    val, test = load_csv(out / "val.csv"), load_csv(out / "test.csv")
    t = random_transform(6, np.random.default_rng(1))
    test.q[2], test.a[2] = t.apply(val.q[1]), t.apply(val.a[1])
    write_csv(out / "leaky.csv", test)
    capsys.readouterr()
    assert main(SUDOKU, ["leakage", "--train", files["train"], "--val", files["val"], "--test", str(out / "leaky.csv")]) == 1
    assert f"leaky.csv:4 is a symmetric variant of {files['val']}:3" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(SUDOKU, ["validate", str(tmp_path / "empty")]) == 1
    assert "empty: a folder without train.csv, val.csv or test.csv" in capsys.readouterr().err
