"""A DDP group of plain processes, without Ray: gloo on 127.0.0.1, one torch thread per rank. Used where a test
or a benchmark needs the platform's multi-worker training without Ray Train around it."""

from __future__ import annotations

import socket
from typing import Any, Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def join_gloo_group(rank: int, world_size: int, port: int):
    """Join the group rendezvousing at ``port`` and return this rank's CPU runtime: the model wrapped in DDP, and
    the non-main ranks meeting rank 0 at each report (as ``ray.train.report`` makes them under Ray Train)."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from vlpet.train.runtime import Runtime

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    return Runtime(device=torch.device("cpu"), rank=rank, world_size=world_size,
                   wrap_model=DistributedDataParallel, report_barrier=dist.barrier)


def main_rank_report(runtime) -> Callable[[dict[str, Any], str | None], None] | None:
    """The ``report`` argument of ``run_trial`` for this rank: on rank 0, the other half of the report barrier."""
    import torch.distributed as dist

    return (lambda metrics, checkpoint: dist.barrier()) if runtime.is_main else None
