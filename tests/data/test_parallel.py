"""The data kernels' numba threads leave torch's thread count as the job set it.

Run in a fresh interpreter: numba starts its thread pool once per process, so a kernel launched by
an earlier test would hide the change this guards against (the OpenMP layer raised torch to all cores)."""
import os
import subprocess
import sys

SCRIPT = """
import torch
from attractor.data.maze.generate import generate as mazes
from attractor.data.sudoku.generate import generate_raw
from attractor.data.sudoku.solver import solve
before = torch.get_num_threads()
puzzles, _, _ = generate_raw(4, size=6, seed=0, blanks=8)
solve(puzzles, 6)
mazes(2, side=9, seed=0, min_path=4)
print(before, torch.get_num_threads())
"""


def test_data_kernels_keep_torch_single_threaded():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1"]
