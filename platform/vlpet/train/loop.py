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
from vlpet.pet.state import trainable_state_dict
from vlpet.train.checkpoint import (Progress, latest_checkpoint, load_best, load_checkpoint, save_best,
                                    save_checkpoint)
from vlpet.train.evaluate import evaluate_model, model_inputs, held_out_metrics
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

    ``report(metrics, checkpoint_dir)`` is called on rank 0 after every evaluation. The last evaluation also
    tests the checkpoint ``config.test_checkpoint`` names on the held-out split (keys ``test_*``). Checkpoints
    go to ``out_dir/checkpoints``; with ``resume`` the newest one is restored first. ``stop_after_steps`` ends
    the run early after writing a checkpoint (an interruption that a later call resumes). ``on_ready()`` is
    called once the model, data and optimizer are built, just before the first training step.
    """
    from vlpet.train.data_pipeline import TrialData

    runtime = runtime or local_runtime(config.precision)
    seed_everything(config.seed)
    run = TrialRun(config, data or TrialData(config), runtime, out_dir, report, resume)
    if on_ready:
        on_ready()
    last = run.train(stop_after_steps, progress_bar)
    if run.interrupted:
        return last
    if not _just_evaluated(last, run.state):
        last = run.evaluate(final=True) if runtime.is_main else _follow(runtime, run.state)
    return last


class TrialRun:
    """One trial's model, optimizer, schedule, progress and checkpoints, trained and evaluated step by step."""

    def __init__(self, config: TrialConfig, data, runtime: Runtime, out_dir: str, report: Reporter | None,
                 resume: bool) -> None:
        self.config, self.data, self.runtime, self.report = config, data, runtime, report
        self.model = build_trial_model(config).to(runtime.device)
        self.budget = {k: v for k, v in count_parameters(self.model).as_dict().items() if k != "breakdown"}
        self.train_model = runtime.wrap_model(self.model) if runtime.wrap_model else self.model
        self.optimizer = build_optimizer(self.model, config.lr, config.weight_decay)
        self.total_steps = data.total_steps(runtime.world_size)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, config.warmup_ratio)
        self.out_dir, self.checkpoints = out_dir, os.path.join(out_dir, "checkpoints")
        os.makedirs(self.checkpoints, exist_ok=True)
        found = latest_checkpoint(self.checkpoints) if resume else None
        self.state = load_checkpoint(found, self.model, self.optimizer, self.scheduler) if found else Progress()
        self.timer, self.interrupted = StepTimer(), False

    def save(self) -> str:
        return save_checkpoint(self.checkpoints, self.model, self.optimizer, self.scheduler, self.state,
                               self.config.to_json())

    def train(self, stop_after_steps: int | None, progress_bar: bool) -> dict[str, Any]:
        """Train up to the step budget, evaluating at each epoch end (and every ``eval_every_steps``) except the
        last step, which the caller evaluates; returns the last evaluation's metrics."""
        last: dict[str, Any] = self.state.history[-1] if self.state.history else {}
        bar = _progress(self.total_steps, self.state.step, progress_bar and self.runtime.is_main)
        try:
            while self.state.step < self.total_steps:
                for batch in self.data.train_batches(self.state.epoch, self.runtime.rank, self.runtime.world_size,
                                                     skip=self.state.batch_in_epoch):
                    epoch_end = self.step(batch, bar)
                    if stop_after_steps is not None and self.state.step >= stop_after_steps:
                        if self.runtime.is_main:
                            self.save()
                        self.interrupted = True
                        return last
                    last = self.after_step(epoch_end, last)
                    if epoch_end or self.state.step >= self.total_steps:
                        break
        finally:
            bar.close()
        return last

    def step(self, batch: dict, bar) -> bool:
        """One optimizer step; returns whether it ended the epoch."""
        state, per_epoch = self.state, self.data.steps_per_epoch(self.runtime.world_size)
        started = time.perf_counter()
        loss = _train_step(self.train_model, self.optimizer, self.scheduler, batch, self.config, self.runtime, state)
        self.timer.add(time.perf_counter() - started, int(batch["input_ids"].shape[0]) * self.runtime.world_size)
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        epoch_end = state.batch_in_epoch >= per_epoch
        if epoch_end:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
        return epoch_end

    def after_step(self, epoch_end: bool, last: dict[str, Any]) -> dict[str, Any]:
        """Evaluate when one is due (not at the last step), else write a periodic checkpoint when one is due."""
        config, step = self.config, self.state.step
        eval_due = epoch_end or bool(config.eval_every_steps and step % config.eval_every_steps == 0)
        if eval_due and step < self.total_steps:
            return self.evaluate() if self.runtime.is_main else _follow(self.runtime, self.state)
        if self.runtime.is_main and config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
            self.save()
        return last

    def evaluate(self, final: bool = False) -> dict[str, Any]:
        """Validate, checkpoint and report; the final evaluation also tests the chosen checkpoint."""
        state = self.state
        metrics = {**evaluate_model(self.model, self.data, self.config, self.runtime), **self.budget,
                   **self.timer.pop(), "peak_mem_bytes": peak_memory_bytes(self.runtime.device),
                   "epoch": state.epoch, "step": state.step}
        self.track_best(metrics.get("metric"))
        if final and self.config.test_checkpoint != "none":
            metrics.update(self.test())
        state.history.append(metrics)
        directory = self.save()
        if self.report:
            self.report(metrics, directory)
        return metrics

    def track_best(self, value: Any) -> None:
        """Keep the tensors of the best validation evaluation (trials that test ``best_val``)."""
        state = self.state
        if self.config.test_checkpoint != "best_val" or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if state.best_metric is None or value > state.best_metric:
            state.best_step, state.best_metric = state.step, float(value)
            save_best(self.checkpoints, self.model)

    def test(self) -> dict[str, Any]:
        """The held-out test metrics of the checkpoint ``test_checkpoint`` names (the model ends as it was)."""
        tested_step, last = self.state.step, None
        best = self.state.best_step
        if self.config.test_checkpoint == "best_val" and best is not None and best != self.state.step:
            last = trainable_state_dict(self.model)  # detached CPU copies, restored after the test
            load_best(self.checkpoints, self.model)
            tested_step = best
        predictions = os.path.join(self.out_dir, "predictions")
        metrics = held_out_metrics(self.model, self.data, self.config, self.runtime, predictions)
        if last is not None:
            self.model.load_state_dict(last, strict=False)
        return {**metrics, "tested_checkpoint": self.config.test_checkpoint, "tested_step": tested_step}


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
