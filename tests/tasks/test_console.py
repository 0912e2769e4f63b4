"""A run's output captured to a file (stdout not a terminal) has no progress-bar redraws and prints
each line once: a debug=tiny run, as a user runs it, captured."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attractor.tasks.console import StatusLine

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # one debug=tiny training run and its evaluation in a fresh interpreter
def test_captured_output_has_no_redraws_and_no_repeated_lines(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "debug=tiny", "logger=none", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "\r" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    repeated = {line for line in lines if lines.count(line) > 1}
    assert not repeated, repeated
    assert sum("GPU available" in line for line in lines) == 1
    assert "GPU available" in (tmp_path / "train.log").read_text()  # Lightning's lines still reach the run's log
    status = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in status] == [f"{i}/8" for i in range(1, 9)]  # debug=tiny logs every step
    assert sum(line.startswith("validation at step ") for line in lines) == 2
    assert len(out.encode()) < 5000


def test_status_line_needs_a_positive_interval():
    with pytest.raises(ValueError, match="every: must be >= 1, got 0"):
        StatusLine(0)
