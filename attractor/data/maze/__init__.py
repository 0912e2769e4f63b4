"""Mazes (side x side, 30x30 by default): format, shortest-path checks, generator, symmetries, metrics.

Model encoding: PAD 0, ``# SGo`` -> 1..5 (vocab 6, length side*side).
"""
from attractor.data.maze.format import load_csv, write_csv
from attractor.data.maze.generate import generate, generate_split
from attractor.data.maze.metrics import accuracy, correct

__all__ = ["MazeDataModule", "augment_tokens", "load_csv", "write_csv", "generate", "generate_split",
           "accuracy", "correct"]


def __getattr__(name: str):
    # The Lightning side loads lazily so the CLI starts fast.
    if name == "MazeDataModule":
        from attractor.data.maze.dataset import MazeDataModule
        return MazeDataModule
    if name == "augment_tokens":
        from attractor.data.maze.augment import augment_tokens
        return augment_tokens
    raise AttributeError(name)
