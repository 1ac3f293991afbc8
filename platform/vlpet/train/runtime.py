"""Where a trial runs: device, precision, and the process group it belongs to (one process, or a Ray Train
worker in a DDP group)."""

from __future__ import annotations

import contextlib
import resource
import sys
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from vlpet.train.allocator import keep_freed_memory


@dataclass
class Runtime:
    """``wrap_model`` turns the model into what the optimizer steps (e.g. DDP); ``rank``/``world_size`` shard
    the training batches; only rank 0 evaluates, reports and writes checkpoints, while the other ranks call
    ``report_barrier`` at the same points."""

    device: torch.device
    precision: str = "fp32"
    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[nn.Module], nn.Module] | None = None
    # Called by ranks other than 0 where rank 0 evaluates and reports (Ray Train's report is a barrier).
    report_barrier: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.device.type == "cpu":
            keep_freed_memory()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def local_runtime(precision: str = "auto", device: str | None = None) -> Runtime:
    """A single-process runtime: CUDA if present (bf16 under ``auto``), else CPU in fp32."""
    chosen = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if precision == "auto":
        precision = "bf16" if chosen.type == "cuda" else "fp32"
    return Runtime(device=chosen, precision=precision)


def peak_memory_bytes(device: torch.device) -> int:
    """Peak accelerator memory allocated on CUDA; the process's peak resident set size on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
