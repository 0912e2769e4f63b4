"""One rank of a tiny 2-process run (DDP or FSDP: `trainer=...` among the overrides) whose launcher
is simulated by the test's environment variables (torchrun's or srun's):
`python multinode_train.py OUT_DIR trainer=ddp [override ...]`. Lightning picks the cluster
environment, rank and world size from those variables; each rank saves its weights and what
Lightning saw to OUT_DIR/rank<R>.pt."""
import sys
from pathlib import Path

import torch
from torch.distributed.tensor import DTensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attractor.tasks import harness  # noqa: E402
from attractor.tasks.config import validate_run  # noqa: E402
from tests.conftest import compose_run  # noqa: E402

out = Path(sys.argv[1])
cfg = compose_run(["experiment=sudoku_smoke", "debug=tiny", "debug.max_steps=4", *sys.argv[2:],
                   "trainer.accelerator=cpu", "trainer.precision=32-true", "optim.ema_decay=0", "logger=none",
                   "eval_after_fit=false"])
seen = {}
build_trainer = harness.build_trainer


def recording(*args, **kwargs):
    trainer = build_trainer(*args, **kwargs)
    seen.update(environment=type(trainer._accelerator_connector.cluster_environment).__name__, global_rank=trainer.global_rank,
                world_size=trainer.world_size, node_rank=trainer.node_rank, local_rank=trainer.local_rank,
                num_nodes=trainer.num_nodes)
    return trainer


harness.build_trainer = recording
result = harness.train(validate_run(cfg, harness.datamodule_class(cfg.task.name)), out / "run")
# (a sharded model's weights are DTensors: each rank gathers the whole tensors)
weights = {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone() for k, v in result.model.state_dict().items()}
torch.save({"seen": seen, "weights": weights, "steps": result.metrics["steps"], "resumed_from": result.metrics["resumed_from"]},
           out / f"rank{seen['global_rank']}.pt")
