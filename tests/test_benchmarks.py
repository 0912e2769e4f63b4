"""Every benchmark script runs as written: `python benchmarks/X.py` (from any directory) and
`python -m benchmarks.X` (from the repository root), shown with `--help`.

The file form, the one that needs the scripts' sys.path idiom, runs as real interpreters, all at
once; the module form runs in this process (`runpy`, as `-m` does), so torch is imported once."""
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if '__name__ == "__main__"' in p.read_text())


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 7


@pytest.mark.slow  # seven interpreters importing torch: about 25 CPU seconds
def test_every_benchmark_script_runs_as_a_file_from_anywhere(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": ""}
    launches = {script.name: subprocess.Popen([sys.executable, str(script), "--help"], cwd=tmp_path, env=env, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for script in SCRIPTS}
    failed = {}
    for name, proc in launches.items():
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or "usage:" not in out:
            failed[name] = err[-800:]
    assert not failed, failed


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_benchmark_script_runs_as_a_module(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"benchmarks.{script.stem}", run_name="__main__", alter_sys=True)
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out
