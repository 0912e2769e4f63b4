"""Parallel numba kernels that leave torch's thread count alone.

numba's default OpenMP threading layer calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` (all cores)
when it starts its pool, and torch's CPU build shares that libgomp: a job started with
``OMP_NUM_THREADS=1`` ran every later torch op on all cores once a dataset had been checked or
generated, so two "single-thread" jobs on a 2-core machine each ran 5x slower. The workqueue layer
keeps its own threads, and each call uses as many as torch is allowed.
"""
from __future__ import annotations

import functools
from typing import Callable

import numba
import torch

numba.config.THREADING_LAYER = "workqueue"  # read when the first parallel kernel launches


def parallel_njit(fn: Callable) -> Callable:
    """``numba.njit(parallel=True, cache=True)``, run on at most ``torch.get_num_threads()`` threads."""
    kernel = numba.njit(parallel=True, cache=True)(fn)

    @functools.wraps(fn)
    def call(*args):
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        return kernel(*args)

    return call
