"""Resumable PET-only checkpoints: trainable tensors (safetensors) + optimizer/scheduler/step/RNG state.

Layout under a trial's output directory::

    checkpoints/step_000120/pet.safetensors     the trainable tensors only
    checkpoints/step_000120/trainer_state.pt    optimizer, scheduler, counters, RNG states, metric history
    checkpoints/step_000120/trial_config.json   the trial config it was trained with
    checkpoints/step_000120/progress.json       step, epoch and batch of the epoch (readable without torch)
    checkpoints/latest                          name of the newest complete checkpoint

A checkpoint directory is written under a temporary name and renamed when complete, so a crash never leaves a
half-written "latest".
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vlpet.pet.state import load_pet_weights, save_pet_weights

WEIGHTS_FILE = "pet.safetensors"
STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "trial_config.json"
PROGRESS_FILE = "progress.json"


@dataclass
class Progress:
    """Where training stands: optimizer steps done, the epoch and how many of its batches were consumed."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: str, model, optimizer, scheduler, progress: Progress, config_json: str,
                    keep: int = 2) -> str:
    """Write a complete checkpoint for ``progress.step`` and point ``latest`` at it; returns its directory."""
    directory = os.path.join(root, f"step_{progress.step:06d}")
    tmp = directory + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_pet_weights(model, os.path.join(tmp, WEIGHTS_FILE), metadata={"step": str(progress.step)})
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "progress": progress.__dict__, "rng": rng_state()}, os.path.join(tmp, STATE_FILE))
    with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as handle:
        handle.write(config_json)
    with open(os.path.join(tmp, PROGRESS_FILE), "w", encoding="utf-8") as handle:
        json.dump({"step": progress.step, "epoch": progress.epoch, "batch_in_epoch": progress.batch_in_epoch}, handle)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)
    _write_latest(root, os.path.basename(directory))
    _prune(root, keep)
    return directory


def _write_latest(root: str, name: str) -> None:
    tmp = os.path.join(root, "latest.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(name)
    os.replace(tmp, os.path.join(root, "latest"))


def _prune(root: str, keep: int) -> None:
    steps = sorted(d for d in os.listdir(root) if d.startswith("step_") and not d.endswith(".tmp"))
    for name in steps[:-keep]:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def latest_checkpoint(root: str) -> str | None:
    """The newest complete checkpoint directory under ``root``, or None."""
    pointer = os.path.join(root, "latest")
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as handle:
        directory = os.path.join(root, handle.read().strip())
    return directory if os.path.isfile(os.path.join(directory, STATE_FILE)) else None


def checkpoint_step(directory: str) -> int:
    """The optimizer step a checkpoint directory holds."""
    with open(os.path.join(directory, PROGRESS_FILE), encoding="utf-8") as handle:
        return int(json.load(handle)["step"])


def load_checkpoint(directory: str, model, optimizer, scheduler) -> Progress:
    """Restore weights, optimizer, scheduler and RNG state; returns the saved progress."""
    load_pet_weights(model, os.path.join(directory, WEIGHTS_FILE))
    state = torch.load(os.path.join(directory, STATE_FILE), map_location="cpu", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return Progress(**state["progress"])

