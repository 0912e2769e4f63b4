"""Train a few steps with Lightning's DDP strategy on 2 CPU processes (gloo), then save each rank's
weights. Run as a script (Lightning relaunches it for rank 1): `python ddp_train.py OUT_DIR`."""
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attractor.tasks.config import validate_run  # noqa: E402
from attractor.tasks.harness import datamodule_class, train  # noqa: E402
from tests.conftest import compose_run  # noqa: E402

out = Path(sys.argv[1])
cfg = compose_run(["experiment=sudoku_smoke", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                   "trainer.precision=32-true", "logger=none", "eval_after_fit=false", "model.dim=32", "model.n_heads=2",
                   "train.max_steps=4", "train.val_every_steps=4", "task.data.n_train=64", "task.data.n_test=16",
                   "task.batch_size=16"])
result = train(validate_run(cfg, datamodule_class(cfg.task.name)), out / "run")
rank = dist.get_rank() if dist.is_initialized() else 0
torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, out / f"rank{rank}.pt")
