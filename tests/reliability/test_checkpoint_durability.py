"""Checkpoint durability (issue 8): a checkpoint loads with ``torch.load(weights_only=True)`` (no pickle of
objects), and a write cut short (a half-written directory, a truncated file, a process killed mid-write) leaves
the previous checkpoint loadable."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import torch
from torch import nn

from vlpet.train.checkpoint import (STATE_FILE, WEIGHTS_FILE, Progress, checkpoint_step, latest_checkpoint,
                                    load_checkpoint, save_checkpoint)
from vlpet.train.optim import build_optimizer, build_scheduler


def trainer(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 8), nn.Linear(8, 4))
    optimizer = build_optimizer(model, 1e-3, 0.01)
    return model, optimizer, build_scheduler(optimizer, 100, 0.1)


def train_step(model, optimizer, scheduler) -> None:
    model(torch.randn(2, 16)).pow(2).sum().backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def save(root, model, optimizer, scheduler, step: int) -> str:
    history = [{"metric": 0.5, "metric_name": "accuracy", "step": step, "loss": np.float32(1.25), "nan": float("nan")}]
    return save_checkpoint(str(root), model, optimizer, scheduler, Progress(step=step, epoch=1, batch_in_epoch=3,
                                                                           history=history), json.dumps({"seed": 0}))


def test_a_checkpoint_loads_with_weights_only_and_restores_everything(tmp_path):
    model, optimizer, scheduler = trainer()
    train_step(model, optimizer, scheduler)
    directory = save(tmp_path, model, optimizer, scheduler, step=1)
    expected_draws = draws()
    state = torch.load(os.path.join(directory, STATE_FILE), map_location="cpu", weights_only=True)
    assert set(state) == {"optimizer", "scheduler", "rng"}

    fresh, fresh_optimizer, fresh_scheduler = trainer(seed=1)
    progress = load_checkpoint(directory, fresh, fresh_optimizer, fresh_scheduler)
    assert draws() == expected_draws                                   # torch, numpy and Python RNGs restored
    assert (progress.step, progress.epoch, progress.batch_in_epoch) == (1, 1, 3)
    assert progress.history[0]["loss"] == 1.25 and progress.history[0]["metric_name"] == "accuracy"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert fresh_scheduler.state_dict() == scheduler.state_dict()
    saved, restored = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(saved[k]["exp_avg"], restored[k]["exp_avg"]) for k in saved)


def test_a_half_written_checkpoint_leaves_the_previous_one_loadable(tmp_path):
    model, optimizer, scheduler = trainer()
    previous = save(tmp_path, model, optimizer, scheduler, step=1)
    # A writer killed while writing step 2: its temporary directory holds a truncated state and no weights,
    # and the pointer's own temporary file is half written.
    partial = tmp_path / "step_000002.tmp"
    partial.mkdir()
    state = open(os.path.join(previous, STATE_FILE), "rb").read()
    (partial / STATE_FILE).write_bytes(state[: len(state) // 2])
    (tmp_path / "latest.tmp").write_text("step_0000")
    assert latest_checkpoint(str(tmp_path)) == previous
    assert load_checkpoint(previous, *trainer()).step == 1


def test_latest_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    model, optimizer, scheduler = trainer()
    first = save(tmp_path, model, optimizer, scheduler, step=1)
    second = save(tmp_path, model, optimizer, scheduler, step=2)
    # Killed while swapping a re-saved step 2 into place: "latest" names a directory that lost its weights.
    os.remove(os.path.join(second, WEIGHTS_FILE))
    assert latest_checkpoint(str(tmp_path)) == first
    shutil.rmtree(second)
    (tmp_path / "latest").write_text("../../etc")                   # a pointer outside the folder is ignored
    assert latest_checkpoint(str(tmp_path)) == first
    assert save(tmp_path, model, optimizer, scheduler, step=3) and not any(
        name.endswith((".tmp", ".old")) for name in os.listdir(tmp_path))


WRITER = textwrap.dedent("""
    import json, sys, torch
    from torch import nn
    from vlpet.train.checkpoint import Progress, save_checkpoint
    from vlpet.train.optim import build_optimizer, build_scheduler
    model = nn.Linear(512, 512)
    optimizer = build_optimizer(model, 1e-3, 0.0)
    scheduler = build_scheduler(optimizer, 10**6, 0.0)
    step = 0
    while True:
        step += 1
        with torch.no_grad():
            model.weight.fill_(step)
        save_checkpoint(sys.argv[1], model, optimizer, scheduler, Progress(step=step), json.dumps({}))
        if step == 3:
            print("ready", flush=True)
""")


def test_a_writer_killed_mid_checkpoint_leaves_a_loadable_one(tmp_path):
    """A real fault: a process writing checkpoints back to back is SIGKILLed; the newest complete one loads and
    its weights belong to the step it claims."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(random.uniform(0.05, 0.4))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    found = latest_checkpoint(str(root))
    model = nn.Linear(512, 512)
    optimizer = build_optimizer(model, 1e-3, 0.0)
    progress = load_checkpoint(found, model, optimizer, build_scheduler(optimizer, 10**6, 0.0))
    assert progress.step == checkpoint_step(found) >= 3 and bool((model.weight == progress.step).all())
