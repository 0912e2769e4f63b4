"""Shared by the benchmark scripts: a tiny-model factory, peak-memory measurement, JSON + table output."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from attractor.io import write_json


def parser(description: str, default_json: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", default=default_json, help="where to write the figures")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float64"])
    return p


def peak_memory_bytes(step: Callable[[], Any], device: str) -> int:
    """Peak memory allocated above the starting level while ``step`` runs.

    GPU: ``torch.cuda.max_memory_allocated``. CPU: the profiler's allocation and free events,
    summed in time order.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def emit(path: str, figures: dict[str, Any], rows: list[list[Any]], header: list[str]) -> None:
    """Write figures to JSON and print a plain table."""
    write_json(path, figures)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    print(f"wrote {path}")
