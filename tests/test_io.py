import json

import pytest

from attractor.io import atomic_path, write_json


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
