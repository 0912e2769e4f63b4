"""Cluster sweeps through Hydra's submitit launcher, and the requeue hand-off.

The sweep runs on this machine with submitit's local executor (``hydra/launcher=local``); the SLURM
preset is checked up to the ``sbatch`` script it submits (a fake ``sbatch`` keeps it); a requeue
re-runs a finished job's pickle the way a requeued SLURM job does, with ``SLURM_RESTART_COUNT``.
"""
import os
import subprocess
import sys

import pytest

from attractor.tasks.config import validate_run
from attractor.tasks.harness import CHECKPOINTS, resolve_ckpt_path
from tests.conftest import ROOT, compose_run

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SUBMITIT_", "TORCHELASTIC_"))}
ENV = {**CLEAN_ENV, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def train_py(args: list[str], env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_a_local_submitit_sweep_trains_every_job_and_a_requeued_job_resumes_in_its_own_directory(tmp_path):
    # A timestamp down to microseconds in the sweep directory: a requeued job that resolved it
    # again would land elsewhere.
    proc = train_py(["-m", "hydra/launcher=local", "experiment=sudoku_smoke", "debug=tiny", "logger=none",
                     "eval_after_fit=false", "seed=0,1", f"hydra.sweep.dir={tmp_path}/" + "${now:%H-%M-%S-%f}"], ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    metrics = sorted(sweep.glob("*/metrics.json"))
    assert [m.parent.name.split(",")[-1] for m in metrics] == ["seed=0", "seed=1"]
    for m in metrics:
        assert '"steps": 8' in m.read_text() and '"resumed_from": null' in m.read_text()

    # The requeue: SLURM starts the same job again (same id, SLURM_RESTART_COUNT=1), which runs
    # submitit's entry point on the job's pickle, as the first start did.
    job_id = next(p.name for p in (sweep / ".submitit").iterdir() if (p / f"{p.name}_submitted.pkl").exists())
    requeue_env = {**ENV, "SLURM_RESTART_COUNT": "1", "SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": job_id,
                   "SUBMITIT_LOCAL_NTASKS": "1", "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_NODEID": "0",
                   "SUBMITIT_LOCAL_GLOBALID": "0", "SUBMITIT_LOCAL_LOCALID": "0"}
    proc = subprocess.run([sys.executable, "-m", "submitit.core._submit", str(sweep / ".submitit" / "%j")], cwd=ROOT,
                          env=requeue_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [sweep]  # no new sweep directory
    resumed = [m for m in metrics if f'"resumed_from": "{m.parent / CHECKPOINTS / "last.ckpt"}"' in m.read_text()]
    assert len(resumed) == 1


def test_the_slurm_preset_submits_one_lightning_process_per_gpu_on_every_node(tmp_path):
    """Up to sbatch: a fake ``sbatch`` keeps the script and refuses the job (a fake ``srun`` on the
    PATH lets submitit believe it is on a cluster)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job.sh\necho "refused by the test" >&2\nexit 1\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    proc = train_py(["-m", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "trainer=ddp", "trainer.devices=4",
                     "trainer.num_nodes=2", "model=transformer,looped", f"hydra.sweep.dir={tmp_path}/sweep"],
                    {**ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, timeout=120)
    assert "refused by the test" in proc.stderr, proc.stderr[-3000:]
    script = (tmp_path / "job.sh").read_text()
    for line in ("--array=0-1", "--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--partition=gpu",
                 "--signal=USR2@120", "--job-name=train"):
        assert f"#SBATCH {line}" in script
    assert "srun " in script and "submitit.core._submit" in script


def _run(ckpt_path: str | None = None):
    return validate_run(compose_run(["experiment=sudoku_smoke", "logger=none"]
                                    + ([f"ckpt_path={ckpt_path}"] if ckpt_path else [])))


@pytest.mark.parametrize("variable", ["SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"])
def test_a_restarted_job_resumes_from_its_latest_checkpoint_without_being_told(tmp_path, monkeypatch, variable):
    for key in ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"):
        monkeypatch.delenv(key, raising=False)
    run = _run()
    assert resolve_ckpt_path(run, tmp_path) is None  # nothing to resume: a fresh start
    monkeypatch.setenv(variable, "1")
    assert resolve_ckpt_path(run, tmp_path) is None  # requeued before its first checkpoint
    last = tmp_path / CHECKPOINTS / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"x")
    assert resolve_ckpt_path(run, tmp_path) == str(last)
    # Lightning's own SLURM requeue saves hpc_ckpt_N.ckpt at the signal: newer than last.ckpt
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    hpc.write_bytes(b"x")
    os.utime(last, ns=(1, 1))
    assert resolve_ckpt_path(run, tmp_path) == str(hpc) == resolve_ckpt_path(_run("last"), tmp_path)
    monkeypatch.setenv(variable, "0")  # the first start of a job: a leftover directory is refused
    with pytest.raises(FileExistsError, match="ckpt_path=last"):
        resolve_ckpt_path(run, tmp_path)
