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
    assert [r["steps"] for r in ranks] == [4, 4]


@pytest.mark.slow
def test_torchrun_variables_make_a_two_process_run_with_identical_ranks(tmp_path):
    # what `torchrun --nproc_per_node=2 train.py trainer=ddp trainer.devices=2` gives its workers
    envs = [dict(RANK=str(r), LOCAL_RANK=str(r), GROUP_RANK="0", WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                 TORCHELASTIC_RUN_ID="test", TORCHELASTIC_RESTART_COUNT="0") for r in (0, 1)]
    ranks = run_ranks(tmp_path, envs, ["trainer.devices=2", "trainer.num_nodes=1"])
    for r, saved in enumerate(ranks):
        assert saved["seen"] == dict(environment="TorchElasticEnvironment", global_rank=r, world_size=2, node_rank=0,
                                     local_rank=r, num_nodes=1)
    assert_same_weights(ranks)


@pytest.mark.slow
def test_a_simulated_two_node_slurm_job_takes_ranks_and_world_size_from_slurm(tmp_path):
    # what srun gives the two tasks of `sbatch --nodes=2 --ntasks-per-node=1` (the job name must not
    # be `bash` or `interactive`: Lightning treats those as interactive sessions, not SLURM jobs)
    envs = [dict(SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="1", SLURM_NNODES="2", SLURM_JOB_NUM_NODES="2",
                 SLURM_PROCID=str(r), SLURM_LOCALID="0", SLURM_NODEID=str(r), SLURM_JOB_ID="4242",
                 SLURM_JOB_NAME="train", SLURM_NODELIST="127.0.0.1") for r in (0, 1)]
    ranks = run_ranks(tmp_path, envs, ["trainer.devices=1", "trainer.num_nodes=2"])
    for r, saved in enumerate(ranks):
        assert saved["seen"] == dict(environment="SLURMEnvironment", global_rank=r, world_size=2, node_rank=r,
                                     local_rank=0, num_nodes=2)
    assert_same_weights(ranks)
