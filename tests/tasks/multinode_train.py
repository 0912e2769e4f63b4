"""One rank of a tiny 2-process DDP run whose launcher is simulated by the test's environment
variables (torchrun's or srun's): `python multinode_train.py OUT_DIR [override ...]`. Lightning
picks the cluster environment, rank and world size from those variables; each rank saves its
weights and what Lightning saw to OUT_DIR/rank<R>.pt."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from attractor.tasks import harness  # noqa: E402
from attractor.tasks.config import validate_run  # noqa: E402
from tests.conftest import compose_run  # noqa: E402

out = Path(sys.argv[1])
cfg = compose_run(["experiment=sudoku_smoke", "debug=tiny", "trainer=ddp", "trainer.accelerator=cpu",
                   "trainer.precision=32-true", "logger=none", "eval_after_fit=false", "debug.max_steps=4",
                   *sys.argv[2:]])
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
weights = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
torch.save({"seen": seen, "weights": weights, "steps": result.metrics["steps"]}, out / f"rank{seen['global_rank']}.pt")
