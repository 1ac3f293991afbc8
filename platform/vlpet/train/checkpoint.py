"""Resumable PET-only checkpoints: trainable tensors (safetensors) + optimizer/scheduler/step/RNG state.

Layout under a trial's output directory::

    checkpoints/step_000120/pet.safetensors     the trainable tensors only
    checkpoints/step_000120/trainer_state.pt    optimizer, scheduler and RNG states: tensors and plain values only,
                                                loaded with ``torch.load(weights_only=True)`` (no pickle of objects)
    checkpoints/step_000120/trial_config.json   the trial config it was trained with
    checkpoints/step_000120/progress.json       step, epoch, batch of the epoch and the metric history (JSON)
    checkpoints/step_000120/best_val.safetensors  the trainable tensors of the best validation evaluation so far
                                                (trials that test ``best_val``)
    checkpoints/latest                          name of the newest complete checkpoint

A checkpoint directory is written under a temporary name, flushed to disk and renamed when complete, so a crash
never leaves a half-written "latest"; should ``latest`` name a directory that is gone or incomplete,
``latest_checkpoint`` falls back to the newest complete ``step_*`` directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
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
BEST_FILE = "best_val.safetensors"
STEP_DIR = re.compile(r"step_\d+")


@dataclass
class Progress:
    """Where training stands: optimizer steps done, the epoch and how many of its batches were consumed."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step: int | None = None       # the evaluation with the best validation metric so far
    best_metric: float | None = None


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values (so that ``weights_only`` loading can read it back)."""
    kind, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    version, python_state, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64),
                        "gauss_next": gauss_next},
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss_next"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: str, model, optimizer, scheduler, progress: Progress, config_json: str,
                    keep: int = 2) -> str:
    """Write a complete checkpoint for ``progress.step`` and point ``latest`` at it; returns its directory."""
    directory = os.path.join(root, f"step_{progress.step:06d}")
    tmp = directory + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    # full-precision latent weights, not the packed low-bit codes, so that quantisation-aware training resumes exactly
    save_pet_weights(model, os.path.join(tmp, WEIGHTS_FILE), metadata={"step": str(progress.step)}, packed=False)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
               os.path.join(tmp, STATE_FILE))
    with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as handle:
        handle.write(config_json)
    with open(os.path.join(tmp, PROGRESS_FILE), "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(progress), handle, default=_plain)
    if os.path.isfile(os.path.join(root, BEST_FILE)):
        shutil.copyfile(os.path.join(root, BEST_FILE), os.path.join(tmp, BEST_FILE))
    _flush(tmp)
    if os.path.exists(directory):                # the same step saved again (after a resume): swap, then delete
        shutil.rmtree(directory + ".old", ignore_errors=True)
        os.replace(directory, directory + ".old")
    os.replace(tmp, directory)
    _write_latest(root, os.path.basename(directory))
    _prune(root, keep, os.path.basename(directory))
    return directory


def _plain(value: Any) -> Any:
    """JSON for numpy and torch scalars in the metric history."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _flush(directory: str) -> None:
    """fsync every file of ``directory`` and the directory itself, so its rename publishes complete files."""
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_latest(root: str, name: str) -> None:
    tmp = os.path.join(root, "latest.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(name)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, os.path.join(root, "latest"))
    _fsync_dir(root)


def _steps(root: str) -> list[str]:
    """Names of the complete step checkpoints under ``root``, oldest first."""
    return sorted(name for name in os.listdir(root) if STEP_DIR.fullmatch(name) and _complete(os.path.join(root, name)))


def _complete(directory: str) -> bool:
    return all(os.path.isfile(os.path.join(directory, name)) for name in (WEIGHTS_FILE, STATE_FILE, PROGRESS_FILE))


def _prune(root: str, keep: int, current: str) -> None:
    """Keep the newest ``keep`` complete checkpoints and ``current``; drop leftovers of interrupted writes."""
    for name in [n for n in _steps(root)[:-keep] if n != current]:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    for name in os.listdir(root):
        if name.startswith("step_") and name.endswith((".tmp", ".old")):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def latest_checkpoint(root: str) -> str | None:
    """The newest complete checkpoint directory under ``root`` (the one ``latest`` names, else the newest
    complete ``step_*`` directory), or None."""
    if not os.path.isdir(root):
        return None
    pointer = os.path.join(root, "latest")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as handle:
            name = handle.read().strip()
        directory = os.path.join(root, name)
        if name and os.path.basename(name) == name and _complete(directory):
            return directory
    steps = _steps(root)
    return os.path.join(root, steps[-1]) if steps else None


def checkpoint_step(directory: str) -> int:
    """The optimizer step a checkpoint directory holds."""
    with open(os.path.join(directory, PROGRESS_FILE), encoding="utf-8") as handle:
        return int(json.load(handle)["step"])


def saved_config(directory: str) -> dict[str, Any] | None:
    """The trial config a checkpoint directory was trained with (None where it has none or it is unreadable)."""
    try:
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def config_changes(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every key whose value differs between a checkpoint's config and ``config``
    (both as ``TrialConfig.to_dict()`` gives them; a key only one of them has shows as ``(absent)``)."""
    config = json.loads(json.dumps(config))          # tuples as lists, as the saved JSON has them
    absent = object()
    changes = []
    for key in sorted(set(saved) | set(config)):
        old, new = saved.get(key, absent), config.get(key, absent)
        if old != new:
            changes.append(f"{key}: {_shown(old, absent)} -> {_shown(new, absent)}")
    return changes


def _shown(value: Any, absent: object) -> str:
    return "(absent)" if value is absent else json.dumps(value)


def discard_run(out_dir: str, names: tuple[str, ...]) -> None:
    """Delete what a run left in ``out_dir`` (``names``: its checkpoints directory, metric history…): each is
    first renamed away in one step, so an interrupted delete never leaves a partial checkpoint to resume."""
    for name in names:
        path = os.path.join(out_dir, name)
        if not os.path.lexists(path):
            continue
        doomed = os.path.join(out_dir, f".{name}.discarded")
        _remove(doomed)
        os.replace(path, doomed)
        _remove(doomed)
    if os.path.isdir(out_dir):
        _fsync_dir(out_dir)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def save_best(root: str, model) -> None:
    """Keep the model's trainable tensors as the best validation evaluation so far (written whole)."""
    save_pet_weights(model, os.path.join(root, BEST_FILE))


def load_best(root: str, model) -> None:
    """Load the tensors :func:`save_best` kept into ``model``."""
    load_pet_weights(model, os.path.join(root, BEST_FILE))


def load_checkpoint(directory: str, model, optimizer, scheduler) -> Progress:
    """Restore weights, optimizer, scheduler and RNG state (and the best validation tensors next to the
    checkpoint root, when the checkpoint holds them); returns the saved progress."""
    load_pet_weights(model, os.path.join(directory, WEIGHTS_FILE))
    if os.path.isfile(os.path.join(directory, BEST_FILE)):
        shutil.copyfile(os.path.join(directory, BEST_FILE), os.path.join(os.path.dirname(directory), BEST_FILE))
    state = torch.load(os.path.join(directory, STATE_FILE), map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    with open(os.path.join(directory, PROGRESS_FILE), encoding="utf-8") as handle:
        return Progress(**json.load(handle))
