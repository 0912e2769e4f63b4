"""FLOPs of one training step (forward and backward) of a run config, counted by torch's FlopCounterMode.

The step is the task's own ``training_step`` (deep-supervision segments, ACT, the solver's
iterations) on the run's first training batch, then ``backward``; attention runs on SDPA's math
backend so its matrix products are counted too (the fused CPU kernel has no FLOP formula). Adaptive
solvers spend a data-dependent number of iterations, so their count is of that one step at
initialisation: a measure of cost per step, not a constant.

    python -m benchmarks.flops model=transformer task.data.size=6     # prints {"flops_per_step": ...}
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from attractor.compose import compose  # noqa: E402
from attractor.tasks.config import validate_run  # noqa: E402
from attractor.tasks.harness import build_datamodule, build_module, datamodule_class  # noqa: E402


def train_step_flops(overrides: list[str]) -> dict[str, int]:
    """Forward + backward FLOPs of one training step of ``train.py <overrides>``, and the batch size."""
    cfg = compose(overrides)
    run = validate_run(cfg, datamodule_class(cfg.task.name))
    torch.manual_seed(run.seed)
    dm, module = build_datamodule(run), build_module(run)
    dm.setup("fit")
    batch = next(iter(torch.utils.data.DataLoader(dm.train_dataloader().dataset, batch_size=run.task.batch_size)))
    counter = FlopCounterMode(display=False)
    with warnings.catch_warnings(), sdpa_kernel(SDPBackend.MATH), counter:
        warnings.simplefilter("ignore")  # self.log without a Trainer: nothing to log to, by design here
        module.training_step(batch, 0).backward()
    return {"flops_per_step": int(counter.get_total_flops()), "batch_size": int(batch["inputs"].shape[0])}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", help="train.py overrides, e.g. model=attractor task.data.size=6")
    print(json.dumps(train_step_flops(p.parse_args().overrides)))
