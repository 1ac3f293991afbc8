"""Round-robin multi-task batching: per-task batch sizes, every batch once per epoch, epoch-seeded order."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from vlpet.data import RoundRobinMixer, paper_batch_sizes
from vlpet.errors import DataError

TASK_SIZES = {"vqa": 10, "gqa": 7, "nlvr": 3}


def _mixer(**kwargs) -> RoundRobinMixer:
    datasets = {task: [f"{task}-{i}" for i in range(n)] for task, n in TASK_SIZES.items()}
    return RoundRobinMixer(datasets, {"vqa": 4, "gqa": 3, "nlvr": 2}, **kwargs)


def test_paper_batch_sizes():
    tasks = ["vqa", "gqa", "nlvr", "caption"]
    assert paper_batch_sizes(500, tasks) == {"vqa": 500, "gqa": 833, "nlvr": 166, "caption": 416}
    assert paper_batch_sizes(300, tasks) == {"vqa": 300, "gqa": 500, "nlvr": 100, "caption": 250}
    assert paper_batch_sizes(50, ["tvqa", "tvc"]) == {"tvqa": 50, "tvc": 50}
    assert paper_batch_sizes(2, ["nlvr"]) == {"nlvr": 1}
    assert paper_batch_sizes(64, ["quickstart"]) == {"quickstart": 64}  # read from the task records
    with pytest.raises(DataError, match="unknown task 'refcoco'"):
        paper_batch_sizes(64, ["refcoco"])


def test_every_example_of_every_task_is_used_once_per_epoch():
    mixer = _mixer()
    mixer.set_epoch(3)
    batches = list(mixer)
    # ceil(10/4) + ceil(7/3) + ceil(3/2) = 3 + 3 + 2 batches, each drawn from one task
    assert len(batches) == len(mixer) == 8
    assert Counter(task for task, _ in batches) == {"vqa": 3, "gqa": 3, "nlvr": 2}
    for task, size in TASK_SIZES.items():
        seen = [item for name, items in batches if name == task for item in items]
        assert sorted(seen) == sorted(f"{task}-{i}" for i in range(size))
        assert all(item.startswith(task) for name, items in batches if name == task for item in items)


def test_task_order_is_the_paper_shuffle_seeded_by_epoch():
    mixer = _mixer()
    for epoch in (0, 1, 5):
        expected = ["vqa"] * 3 + ["gqa"] * 3 + ["nlvr"] * 2
        random.Random(epoch).shuffle(expected)
        assert [step.task for step in mixer.plan(epoch)] == expected[::-1]  # VL-PET pops from the end
    assert mixer.plan(4) == mixer.plan(4)
    assert mixer.plan(4) != mixer.plan(5)


def test_no_shuffle_and_drop_last():
    mixer = _mixer(shuffle=False, drop_last=True)
    plan = mixer.plan(0)
    assert [step.task for step in plan] == ["nlvr", "gqa", "gqa", "vqa", "vqa"]
    assert [step.indices for step in plan if step.task == "vqa"] == [(0, 1, 2, 3), (4, 5, 6, 7)]


def test_set_epoch_reaches_the_datasets():
    class Recorder(list):
        epoch = None

        def set_epoch(self, epoch):
            self.epoch = epoch

    data = Recorder(range(4))
    mixer = RoundRobinMixer({"vqa": data}, {"vqa": 2})
    mixer.set_epoch(9)
    assert data.epoch == 9 and len(mixer) == 2


def test_batch_size_validation():
    with pytest.raises(ValueError, match=r"no batch size for task\(s\) \['gqa'\]"):
        RoundRobinMixer({"vqa": [1], "gqa": [1]}, {"vqa": 1})
    with pytest.raises(ValueError, match="batch sizes must be >= 1"):
        RoundRobinMixer({"vqa": [1]}, {"vqa": 0})
