import json
import os

import pytest

from attractor.io import atomic_path, remove_temporaries, write_json


def test_write_json_is_strict_json_with_undefined_figures_as_null(tmp_path):
    path = tmp_path / "out" / "r.json"
    write_json(path, {"auroc": float("nan"), "rows": [1.5, float("inf"), (2, -float("inf"))], "name": "x"})
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}")) == {
        "auroc": None, "rows": [1.5, None, [2, None]], "name": "x"}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert json.loads(path.read_text()) == {"v": 1} and list(tmp_path.iterdir()) == [path]


def test_a_durable_write_fsyncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    path, events = tmp_path / "r.bin", []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.fstat(fd).st_ino)) or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(b))) or replace(a, b))
    with atomic_path(path, durable=True) as tmp:
        tmp.write_bytes(b"whole")
    file, directory = path.stat().st_ino, tmp_path.stat().st_ino
    assert events == [("fsync", file), ("replace", str(path)), ("fsync", directory)]
    assert path.read_bytes() == b"whole"


def test_temporaries_lie_beside_the_target_and_killed_ones_are_removable(tmp_path):
    path = tmp_path / "last.ckpt"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".last.ckpt.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"x")
    leftover = tmp_path / ".last.ckpt.abc123.tmp"  # what a killed write leaves
    other = tmp_path / ".best.ckpt.abc123.tmp"
    leftover.write_bytes(b"half")
    other.write_bytes(b"half")
    assert remove_temporaries(path) == [leftover]
    assert sorted(tmp_path.iterdir()) == [other, path]
