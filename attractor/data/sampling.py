"""Training batches as a pure function of the global step.

Batch s is a slice of a permutation seeded by (seed, epoch of s); resuming at step s therefore
replays exactly the batches an uninterrupted run would have seen, and each rank of a distributed
run takes its own shard of the same global batch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields the batches of steps ``start_step() .. max_steps - 1`` (this rank's shard) as
    ``(index, step)`` keys, so the dataset can seed per-item augmentation by step."""

    def __init__(self, n_items: int, batch_size: int, seed: int, max_steps: int,
                 start_step: Callable[[], int] = lambda: 0, rank: Callable[[], tuple[int, int]] = lambda: (0, 1)):
        if batch_size > n_items:
            raise ValueError(f"batch_size={batch_size} exceeds the {n_items} training items")
        self.n_items, self.batch_size, self.seed, self.max_steps = n_items, batch_size, seed, max_steps
        self.start_step, self.rank = start_step, rank
        self.steps_per_epoch = n_items // batch_size

    @classmethod
    def following(cls, trainer, n_items: int, batch_size: int, seed: int) -> "StepBatchSampler":
        """A sampler that reads the step, the step limit and the rank from a Lightning trainer (or
        runs from step 0 on one rank without one)."""
        if trainer is None:
            return cls(n_items, batch_size, seed, max_steps=10**9)
        return cls(n_items, batch_size, seed, max_steps=trainer.max_steps if trainer.max_steps > 0 else 10**9,
                   start_step=lambda: trainer.global_step, rank=lambda: (trainer.global_rank, trainer.world_size))

    def __len__(self) -> int:
        return self.max_steps

    def batch(self, step: int) -> np.ndarray:
        epoch, offset = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_items)
        return perm[offset * self.batch_size : (offset + 1) * self.batch_size]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        rank, world = self.rank()
        if self.batch_size % world:
            raise ValueError(f"batch_size={self.batch_size} is not divisible by {world} devices")
        for step in range(self.start_step(), self.max_steps):
            yield [(int(i), step) for i in self.batch(step)[rank::world]]
