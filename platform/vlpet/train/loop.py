"""The trial function: train a PET model on a trial's data, evaluate each epoch, report, checkpoint, resume.

It is a plain function with a reporting callback, so Ray Train workers run it unchanged.
"""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from vlpet.build import build_trial_model
from vlpet.errors import TrainingDiverged
from vlpet.pet.budget import count_parameters
from vlpet.train.checkpoint import Progress, latest_checkpoint, load_checkpoint, save_checkpoint
from vlpet.train.evaluate import evaluate_model, model_inputs
from vlpet.train.optim import build_optimizer, build_scheduler
from vlpet.train.runtime import Runtime, local_runtime, peak_memory_bytes
from vlpet.trial_config import TrialConfig

Reporter = Callable[[dict[str, Any], str | None], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class StepTimer:
    """Mean seconds per optimizer step and samples per second since the last evaluation."""

    def __init__(self) -> None:
        self.seconds, self.steps, self.samples = 0.0, 0, 0

    def add(self, seconds: float, samples: int) -> None:
        self.seconds, self.steps, self.samples = self.seconds + seconds, self.steps + 1, self.samples + samples

    def pop(self) -> dict[str, float]:
        figures = {"train_step_s": self.seconds / self.steps if self.steps else float("nan"),
                   "samples_per_s": self.samples / self.seconds if self.seconds else float("nan")}
        self.__init__()
        return figures


def run_trial(config: TrialConfig, out_dir: str, report: Reporter | None = None, runtime: Runtime | None = None,
              resume: bool = True, stop_after_steps: int | None = None, progress_bar: bool = False,
              data=None, on_ready: Callable[[], None] | None = None) -> dict[str, Any]:
    """Train and evaluate one trial; returns the last reported metrics.

    ``report(metrics, checkpoint_dir)`` is called on rank 0 after every evaluation. Checkpoints go to
    ``out_dir/checkpoints``; with ``resume`` the newest one is restored first. ``stop_after_steps`` ends the
    run early after writing a checkpoint (an interruption that a later call resumes). ``on_ready()`` is called
    once the model, data and optimizer are built, just before the first training step.
    """
    from vlpet.train.data_pipeline import TrialData

    runtime = runtime or local_runtime(config.precision)
    seed_everything(config.seed)
    data = data or TrialData(config)
    model = build_trial_model(config).to(runtime.device)
    budget = count_parameters(model).as_dict()
    del budget["breakdown"]
    train_model = runtime.wrap_model(model) if runtime.wrap_model else model
    optimizer = build_optimizer(model, config.lr, config.weight_decay)
    total_steps = data.total_steps(runtime.world_size)
    scheduler = build_scheduler(optimizer, total_steps, config.warmup_ratio)
    checkpoints = os.path.join(out_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    state = Progress()
    found = latest_checkpoint(checkpoints) if resume else None
    if found:
        state = load_checkpoint(found, model, optimizer, scheduler)

    def evaluate_and_report() -> dict[str, Any]:
        metrics = {**evaluate_model(model, data, config, runtime), **budget, **timer.pop(),
                   "peak_mem_bytes": peak_memory_bytes(runtime.device), "epoch": state.epoch, "step": state.step}
        state.history.append(metrics)
        directory = save_checkpoint(checkpoints, model, optimizer, scheduler, state, config.to_json())
        if report:
            report(metrics, directory)
        return metrics

    timer = StepTimer()
    last: dict[str, Any] = state.history[-1] if state.history else {}
    bar = _progress(total_steps, state.step, progress_bar and runtime.is_main)
    per_epoch = data.steps_per_epoch(runtime.world_size)
    if on_ready:
        on_ready()
    try:
        while state.step < total_steps:
            for batch in data.train_batches(state.epoch, runtime.rank, runtime.world_size, skip=state.batch_in_epoch):
                started = time.perf_counter()
                loss = _train_step(train_model, optimizer, scheduler, batch, config, runtime, state)
                timer.add(time.perf_counter() - started, int(batch["input_ids"].shape[0]) * runtime.world_size)
                state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
                epoch_end = state.batch_in_epoch >= per_epoch
                if epoch_end:
                    state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
                if stop_after_steps is not None and state.step >= stop_after_steps:
                    if runtime.is_main:
                        save_checkpoint(checkpoints, model, optimizer, scheduler, state, config.to_json())
                    return last
                eval_due = epoch_end or bool(config.eval_every_steps and state.step % config.eval_every_steps == 0)
                if eval_due and state.step < total_steps:
                    last = evaluate_and_report() if runtime.is_main else _follow(runtime, state)
                elif runtime.is_main and config.checkpoint_every_steps and state.step % config.checkpoint_every_steps == 0:
                    save_checkpoint(checkpoints, model, optimizer, scheduler, state, config.to_json())
                if epoch_end or state.step >= total_steps:
                    break
    finally:
        bar.close()
    if not _just_evaluated(last, state):
        last = evaluate_and_report() if runtime.is_main else _follow(runtime, state)
    return last


def _just_evaluated(last: dict[str, Any], state: Progress) -> bool:
    return bool(last) and last.get("step") == state.step


def _follow(runtime: Runtime, state: Progress) -> dict[str, Any]:
    """A non-main rank at an evaluation point: meet rank 0 at the report barrier."""
    if runtime.report_barrier:
        runtime.report_barrier()
    return {"step": state.step}


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Token cross-entropy averaged per example, times the example's weight (the sampled VQA answer's soft
    score, 1 elsewhere), averaged over the batch, as in VL-PET's task models."""
    per_token = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100,
                                                  reduction="none")
    mask = (labels != -100).float()
    per_example = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return (per_example * weights).mean()


def _train_step(model, optimizer, scheduler, batch, config: TrialConfig, runtime: Runtime, state: Progress) -> float:
    model.train()
    inputs = model_inputs(batch, runtime, config.text_only)
    with runtime.autocast():
        logits = model(**inputs).logits
    loss = weighted_loss(logits, inputs["labels"], batch["loss_weights"].to(runtime.device))
    value = float(loss.detach())
    diverged = _ranks_with(not math.isfinite(value), runtime)
    if diverged:
        # every rank raises the same message: rank 0's is the one the study records
        what = value if runtime.world_size <= 1 else "non-finite (NaN or inf)"
        where = "" if runtime.world_size <= 1 else f" on rank {', '.join(map(str, diverged))} of {runtime.world_size}"
        raise TrainingDiverged(
            f"loss became {what} at step {state.step + 1}{where} (epoch {state.epoch}, task {batch.get('task')}); "
            f"training stopped; checkpoints and metrics written before this step are kept. "
            f"Try a lower lr than {config.lr} or precision fp32."
        )
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return value


def _ranks_with(flag: bool, runtime: Runtime) -> list[int]:
    """The ranks where ``flag`` holds. In a process group every rank learns it (a tiny all-reduce per step), so
    a NaN loss on one rank stops all of them at the same step instead of leaving the others waiting in the
    gradient all-reduce."""
    if runtime.world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return [runtime.rank] if flag else []
    flags = torch.zeros(runtime.world_size, device=runtime.device)
    flags[runtime.rank] = float(flag)
    dist.all_reduce(flags)
    return [rank for rank, raised in enumerate(flags.tolist()) if raised]


class _NoBar:
    def update(self, *_):
        pass

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", desc="train")
