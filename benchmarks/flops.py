"""FLOPs of one training step (forward and backward) of ``train.py <overrides>``
(``attractor.tasks.flops``: the task's own training step on its first batch, counted at init).

    python -m benchmarks.flops model=transformer task.data.size=6     # prints {"flops_per_step": ...}
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.compose import compose  # noqa: E402
from attractor.tasks.flops import train_step_flops  # noqa: E402

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", help="train.py overrides, e.g. model=attractor task.data.size=6")
    print(json.dumps(train_step_flops(compose(p.parse_args().overrides))))
