"""Multi-task batching in VL-PET's "roundrobin" mode (vlpet_spec §1.5, P:src/multitask_data.py L34-52).

Each task is batched on its own with its own batch size; one epoch is the list of every batch of every
task, its order shuffled with ``random.Random(epoch)`` and consumed from the end, as VL-PET's
``MultitaskLoader`` does (``set_epoch`` then ``pop()``). Each step therefore draws one task's batch, and
every batch of every task is used exactly once per epoch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlpet.data.registry import get_task


def paper_batch_sizes(batch_size: int, tasks: list[str] | tuple[str, ...]) -> dict[str, int]:
    """The paper's per-task batch sizes for base size B, ⌊B · ratio / 60⌋ with each task record's ratio
    (P:src/multitask.py L682-695): VQA B, GQA ⌊5B/3⌋, NLVR2 ⌊B/3⌋, COCO ⌊5B/6⌋, other tasks B (B = 500 gives
    500/833/166/416). Sizes are at least 1 so that tiny B stays usable."""
    return {task: max(1, batch_size * get_task(task).batch_ratio // 60) for task in tasks}


@dataclass(frozen=True)
class TaskBatch:
    """One step of the epoch plan: a task and the dataset indices of its batch."""

    task: str
    indices: tuple[int, ...]


class RoundRobinMixer:
    """Iterates one epoch of single-task batches: yields ``(task, [dataset[i] for i in batch])``.

    ``datasets``: task → map-style dataset (anything with ``__len__``/``__getitem__``; ``set_epoch`` is called
    on those that have it). ``batch_sizes``: task → batch size. ``shuffle``: permute each task's examples per
    epoch (seeded by seed, epoch and the task's position) and shuffle the batch order (seeded by the epoch).
    ``drop_last``: drop each task's last incomplete batch. Call ``set_epoch(epoch)`` before each epoch.
    """

    def __init__(self, datasets: Mapping[str, Any], batch_sizes: Mapping[str, int], shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0) -> None:
        missing = sorted(set(datasets) - set(batch_sizes))
        if missing:
            raise ValueError(f"no batch size for task(s) {missing}")
        bad = {task: size for task, size in batch_sizes.items() if task in datasets and size < 1}
        if bad:
            raise ValueError(f"batch sizes must be >= 1, got {bad}")
        self.datasets = dict(datasets)
        self.batch_sizes = {task: int(batch_sizes[task]) for task in self.datasets}
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan the next iteration follows (also forwarded to the datasets)."""
        self.epoch = epoch
        for dataset in self.datasets.values():
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def n_batches(self, task: str) -> int:
        """How many batches ``task`` contributes to each epoch."""
        size, length = self.batch_sizes[task], len(self.datasets[task])
        return length // size if self.drop_last else math.ceil(length / size)

    def task_batches(self, task: str, epoch: int) -> list[tuple[int, ...]]:
        """The batches (index tuples) of one task in one epoch."""
        size, length = self.batch_sizes[task], len(self.datasets[task])
        order = np.arange(length)
        if self.shuffle:
            position = list(self.datasets).index(task)
            order = np.random.default_rng([self.seed, epoch, position]).permutation(length)
        return [tuple(int(i) for i in order[k * size:(k + 1) * size]) for k in range(self.n_batches(task))]

    def plan(self, epoch: int) -> list[TaskBatch]:
        """Every batch of every task for ``epoch``, in the order they are drawn."""
        per_task = {task: self.task_batches(task, epoch) for task in self.datasets}
        tasks = [task for task, batches in per_task.items() for _ in batches]
        if self.shuffle:
            random.Random(epoch).shuffle(tasks)
        cursor = {task: 0 for task in per_task}
        steps = []
        for task in reversed(tasks):  # VL-PET pops from the end of the shuffled list
            steps.append(TaskBatch(task, per_task[task][cursor[task]]))
            cursor[task] += 1
        return steps

    def __len__(self) -> int:
        return sum(self.n_batches(task) for task in self.datasets)

    def __iter__(self) -> Iterator[tuple[str, list]]:
        for step in self.plan(self.epoch):
            dataset = self.datasets[step.task]
            yield step.task, [dataset[i] for i in step.indices]
