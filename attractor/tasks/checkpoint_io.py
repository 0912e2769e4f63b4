"""Checkpoint writes that a kill cannot tear: a Lightning ``CheckpointIO`` for local files.

Lightning's ``TorchCheckpointIO`` saves through an fsspec transaction, which for a local path
writes a temporary made by ``tempfile.mkstemp()`` (in ``$TMPDIR``, often another filesystem) and
then ``shutil.move``s it onto the checkpoint. Across filesystems that move is a copy that first
truncates the old checkpoint, so a process killed during it leaves a torn ``last.ckpt`` and nothing
to resume from; and nothing is fsynced. This plugin writes the temporary beside the checkpoint,
fsyncs it, ``os.replace``s it onto the checkpoint and fsyncs the directory
(:func:`attractor.io.atomic_path`): whenever the process dies, the file on disk is the previous
whole checkpoint or the new whole one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from attractor.io import atomic_path, remove_temporaries


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic, durable local writes (remote paths: Lightning's own).

    A write killed before its rename leaves a hidden ``.<name>.<random>.tmp`` beside the checkpoint,
    which nothing reads as a checkpoint; the next whole write of the same checkpoint removes it.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options=storage_options)  # refuses storage_options
            return
        path = Path(path)
        with atomic_path(path, durable=True) as tmp:
            self._write(checkpoint, tmp)
        remove_temporaries(path)

    def _write(self, checkpoint: dict[str, Any], tmp: Path) -> None:
        """Write the whole checkpoint to the temporary (a seam for the kill test to slow down)."""
        torch.save(checkpoint, tmp)
