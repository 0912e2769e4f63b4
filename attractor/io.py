"""Atomic file output: write to a temporary file beside the target, then rename, so that a crash
never leaves a half-written result where a reader expects a whole one.

The temporary file is made in the target's own directory (never ``$TMPDIR``, which may be another
filesystem, where a rename becomes a copy onto the target). ``durable=True`` also fsyncs the file
before the rename and the directory after it, so the new file survives a power cut too."""
from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


TEMPORARY_SUFFIX = ".tmp"


def temporary_prefix(path: str | os.PathLike) -> str:
    """Temporaries for ``path`` are named ``.<name>.<random>.tmp`` beside it: hidden, and not
    matching ``*<suffix of path>`` (a leftover ``.last.ckpt.x1y2.tmp`` is no checkpoint)."""
    return f".{Path(path).name}."


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block finishes.

    The temporary lies in ``path``'s directory, so the replacement is one ``os.replace``: a reader
    (or a process killed at any moment) sees the old file or the new one, never part of one. An
    exception in the block removes the temporary; a killed process leaves it behind, under a name
    that no reader of ``path`` looks at. ``durable``: fsync the file before the rename and the
    directory after it (for checkpoints; a crash of the machine then keeps the old or the new file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=TEMPORARY_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; results are for sharing
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable (POSIX; Windows cannot open a directory, nor needs this)."""
    if os.name == "posix":
        _fsync(path)


def remove_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that killed writes of ``path`` left beside it; return them.

    Only for a file that one process writes at a time (another writer's temporary in flight would
    go too): checkpoints, which only global rank 0 writes."""
    path = Path(path)
    stale = sorted(path.parent.glob(f"{glob.escape(temporary_prefix(path))}*{TEMPORARY_SUFFIX}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Strict JSON: an undefined figure (NaN, e.g. an AUROC with one class) is written as null,
    since other readers reject Python's bare NaN."""
    write_text(path, json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
