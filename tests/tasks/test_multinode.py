"""Two CPU processes (gloo) started as a launcher would start them, with no launcher: the
environment variables torchrun sets, or those srun sets for a SLURM job. Lightning must detect the
launcher, take every rank from its variables and end with the same weights on both ranks."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attractor.config import ConfigError
from attractor.evaluation.checkpoint import CheckpointError, load_checkpoint
from attractor.tasks.config import validate_run
from tests.conftest import compose_run

SCRIPT = Path(__file__).with_name("multinode_train.py")
LAUNCHER_PREFIXES = ("SLURM_", "TORCHELASTIC_", "SUBMITIT_")
LAUNCHER_KEYS = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR",
                 "MASTER_PORT"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(out: Path, rank_envs: list[dict], overrides: list[str]) -> list[dict]:
    """Start one process per environment, wait for all, return what each rank saved."""
    base = {k: v for k, v in os.environ.items() if k not in LAUNCHER_KEYS and not k.startswith(LAUNCHER_PREFIXES)}
    base.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    logs = [out / f"log{r}.txt" for r in range(len(rank_envs))]
    procs = []
    for env, log in zip(rank_envs, logs):
        with open(log, "wb") as f:
            procs.append(subprocess.Popen([sys.executable, str(SCRIPT), str(out), *overrides], env={**base, **env},
                                          stdout=f, stderr=subprocess.STDOUT))
    try:
        for proc, log in zip(procs, logs):
            assert proc.wait(timeout=300) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(len(rank_envs))]


def assert_same_weights(ranks: list[dict]) -> None:
    a, b = (r["weights"] for r in ranks)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def torchrun_envs(world_size: int) -> list[dict]:
    """What `torchrun --nproc_per_node=2 train.py ...` gives its workers."""
    return [dict(RANK=str(r), LOCAL_RANK=str(r), GROUP_RANK="0", WORLD_SIZE=str(world_size),
                 LOCAL_WORLD_SIZE=str(world_size), TORCHELASTIC_RUN_ID="test", TORCHELASTIC_RESTART_COUNT="0")
            for r in range(world_size)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("ddp")
    return out, run_ranks(out, torchrun_envs(2), ["trainer=ddp", "trainer.devices=2"])


@pytest.mark.slow
def test_torchrun_variables_make_a_two_process_run_with_identical_ranks(ddp_run):
    _, ranks = ddp_run
    for r, saved in enumerate(ranks):
        assert saved["seen"] == dict(environment="TorchElasticEnvironment", global_rank=r, world_size=2, node_rank=0,
                                     local_rank=r, num_nodes=1)
    assert_same_weights(ranks)
    assert [r["steps"] for r in ranks] == [4, 4]


@pytest.mark.slow
def test_a_simulated_two_node_slurm_job_takes_ranks_and_world_size_from_slurm(tmp_path):
    # what srun gives the two tasks of `sbatch --nodes=2 --ntasks-per-node=1` (the job name must not
    # be `bash` or `interactive`: Lightning treats those as interactive sessions, not SLURM jobs)
    envs = [dict(SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="1", SLURM_NNODES="2", SLURM_JOB_NUM_NODES="2",
                 SLURM_PROCID=str(r), SLURM_LOCALID="0", SLURM_NODEID=str(r), SLURM_JOB_ID="4242",
                 SLURM_JOB_NAME="train", SLURM_NODELIST="127.0.0.1") for r in (0, 1)]
    ranks = run_ranks(tmp_path, envs, ["trainer=ddp", "trainer.devices=1", "trainer.num_nodes=2"])
    for r, saved in enumerate(ranks):
        assert saved["seen"] == dict(environment="SLURMEnvironment", global_rank=r, world_size=2, node_rank=r,
                                     local_rank=0, num_nodes=2)
    assert_same_weights(ranks)
    assert [r["steps"] for r in ranks] == [4, 4]


@pytest.mark.slow
def test_a_sharded_run_trains_the_ddp_weights_and_its_checkpoint_loads_on_one_device(tmp_path, ddp_run):
    """trainer=fsdp (FSDP2 on gloo): each rank holds half of every block, yet the run computes what
    DDP computes, and its checkpoint is one whole file that evaluation loads without a process group."""
    ranks = run_ranks(tmp_path, torchrun_envs(2), ["trainer=fsdp", "trainer.devices=2"])
    assert [r["seen"]["world_size"] for r in ranks] == [2, 2]
    assert_same_weights(ranks)
    assert [r["steps"] for r in ranks] == [4, 4]
    loaded = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    sharded = loaded.model.state_dict()
    ddp = torch.load(ddp_run[0] / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    ddp = {k.removeprefix("model."): v for k, v in ddp.items()}
    assert sharded.keys() == ddp.keys()
    worst = max((sharded[k] - ddp[k]).abs().max().item() for k in ddp)
    assert worst < 1e-6, worst  # measured: 5e-8
    # torchrun restarts the workers (TORCHELASTIC_RESTART_COUNT=1): the sharded run resumes from its
    # full checkpoint, with no ckpt_path given, and trains on to its new end
    restarted = [{**env, "TORCHELASTIC_RESTART_COUNT": "1"} for env in torchrun_envs(2)]
    ranks = run_ranks(tmp_path, restarted, ["trainer=fsdp", "trainer.devices=2", "debug.max_steps=6"])
    assert [r["steps"] for r in ranks] == [6, 6]
    assert all(r["resumed_from"] == str(tmp_path / "run" / "checkpoints" / "last.ckpt") for r in ranks)


def test_the_sharded_preset_composes_with_the_lm_preset_and_refuses_an_ema():
    run = validate_run(compose_run(["experiment=lm_gpu", "trainer=fsdp"]))
    assert (run.trainer.strategy, run.trainer.precision) == ("fsdp", "bf16-mixed")
    with pytest.raises(ConfigError) as err:
        validate_run(compose_run(["experiment=sudoku_extreme", "trainer=fsdp"]))  # the puzzle recipe keeps an EMA
    assert err.value.key == "optim.ema_decay"


def test_a_sharded_checkpoint_folder_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "last.ckpt").mkdir()
    with pytest.raises(CheckpointError, match="folder, a sharded checkpoint.*dcp_to_torch_save"):
        load_checkpoint(tmp_path / "last.ckpt")
