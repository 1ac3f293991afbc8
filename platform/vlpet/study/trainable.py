"""What a Tune trial runs: the trial function (one per sampled configuration and seed) and the worker function.

* One worker per trial: the worker function runs inside the Tune trial's own process. There is no DDP group to
  form, so this skips the Ray Train controller and worker actor start-up (seconds per trial); checkpoints go
  through ``ray.tune.report`` and a restarted trial resumes from ``ray.tune.get_checkpoint()``.
* Several workers: the Tune trial is a Ray Train driver: ``TorchTrainer(...).fit()`` with
  ``TuneReportCallback`` (the supported Ray 2.60 pattern, field_notes §3a). The workers form a DDP group; the
  run's name is deterministic per trial so a restored trial resumes the Train run from its own checkpoint.

Either way rank 0 writes every evaluation into the study's own store before reporting it to Ray, so Tune
losing a result on restore loses nothing the analysis reads.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from typing import Any, Callable

from vlpet.errors import ConfigError, DataError, TrainingDiverged
from vlpet.study.space import decode
from vlpet.study.spec import StudySpec
from vlpet.study.store import StudyStore, TrialStatus, config_key
from vlpet.trial_config import TrialConfig

RESTORED = "restored"
DRIVER_CPU = 0.01          # a Train driver only waits on its workers; the workers hold the trial's CPUs/GPUs
_TRIALS_IN_PROCESS = 0     # trials this process has started (Tune reuses one-worker trial actors)


def trial_config_for(spec: StudySpec, sampled: dict[str, Any], seed: int, base_dir: str | None = None) -> TrialConfig:
    """The trial's config; a relative ``data_dir`` is taken relative to ``base_dir`` (the driver's working
    directory: Tune runs each trial in its own trial directory)."""
    keys = spec.compose_trial(decode(spec, sampled), seed)
    data_dir = keys.get("data_dir")
    if base_dir and isinstance(data_dir, str) and data_dir and "://" not in data_dir and not os.path.isabs(data_dir):
        keys["data_dir"] = os.path.join(base_dir, os.path.expanduser(data_dir))
    return TrialConfig.from_dict(keys)


def make_trial_function(spec: StudySpec, study_dir: str) -> Callable[[dict], None]:
    """The Tune function for ``spec``; ``study_dir`` is the study's storage (shared path or URI)."""

    driver_dir = os.getcwd()

    def study_trial(tune_config: dict[str, Any]) -> None:
        import ray.tune

        trial_id = ray.tune.get_context().get_trial_id()
        sampled = {k: v for k, v in tune_config.items() if k != "seed"}
        seed = int(tune_config["seed"])
        store = StudyStore(study_dir)
        config = trial_config_for(spec, sampled, seed, base_dir=driver_dir)
        record = store.mark_running(trial_id, config=config.to_dict(), sampled=decode(spec, sampled),
                                    config_key=config_key(sampled), seed=seed, resources=spec.resources.to_dict())
        payload = {"trial": config.to_dict(), "trial_id": trial_id, "study": spec.name, "study_dir": study_dir,
                   "sampled": record["sampled"], "config_key": record["config_key"], "started": record["started"],
                   "cpus": float(spec.resources.cpus_per_worker)}
        workers = int(spec.resources.workers)
        if workers <= 1:
            train_worker(payload, in_train=False)
        else:
            _fit_train_run(spec, study_dir, trial_id, payload, workers)
        if store.status_of(trial_id) is TrialStatus.ERROR:
            # Tune and the searcher need a last result: the objectives as NaN mark the trial as failed.
            ray.tune.report({**{key: float("nan") for key in spec.objectives}, "failed": True})

    return study_trial


def _fit_train_run(spec: StudySpec, study_dir: str, trial_id: str, payload: dict, workers: int) -> None:
    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    gpus = float(spec.resources.gpus_per_worker)
    per_worker = {"CPU": float(spec.resources.cpus_per_worker)}
    if gpus:
        per_worker["GPU"] = gpus
    TorchTrainer(
        _train_worker_entry, train_loop_config=payload,
        scaling_config=ray.train.ScalingConfig(num_workers=workers, use_gpu=bool(gpus), resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(
            name=f"train-{trial_id}", storage_path=_join(study_dir, "train"),
            failure_config=ray.train.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            callbacks=[TuneReportCallback()]),
    ).fit()


def _train_worker_entry(payload: dict) -> None:
    train_worker(payload, in_train=True)


def _join(location: str, name: str) -> str:
    return location.rstrip("/") + "/" + name


def train_worker(payload: dict[str, Any], in_train: bool) -> None:
    """Train one trial on this process (a Tune trial or one Ray Train worker): restore, train, report."""
    import ray.train
    import ray.tune
    import torch

    from vlpet.train.data_pipeline import TrialData
    from vlpet.train.loop import run_trial

    entered = time.time()
    config = TrialConfig.from_dict(payload["trial"])
    torch.set_num_threads(max(1, int(payload["cpus"])))
    runtime = _train_runtime(config.precision) if in_train else None
    rank = runtime.rank if runtime else 0
    api = ray.train if in_train else ray.tune
    work_dir = tempfile.mkdtemp(prefix=f"vlpet-{payload['trial_id']}-")
    store = StudyStore(payload["study_dir"])
    try:
        resumed_from = _restore(api.get_checkpoint(), os.path.join(work_dir, "checkpoints"))
        if rank == 0:
            store.annotate(payload["trial_id"], pid=os.getpid(), host=socket.gethostname(),
                           resumed_from_step=resumed_from)
        data = TrialData(config)
        world = runtime.world_size if runtime else 1
        total_steps = data.total_steps(world)

        def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
            finished = int(metrics["step"]) >= total_steps
            row = {**metrics, "study": payload["study"], "config_key": payload["config_key"], "seed": config.seed,
                   "config": payload["trial"], "sampled": payload["sampled"], "total_steps": total_steps,
                   "finished": finished, "time": time.time(), "elapsed_s": time.time() - payload["started"],
                   "checkpoint": checkpoint_dir}
            store.append_evaluation(payload["trial_id"], row)
            # The first four numbers are what Tune's progress table shows.
            shown = {k: metrics[k] for k in ("metric", "trainable_pct", "step", "train_step_s") if k in metrics}
            tune_metrics = {**shown, **{k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}}
            checkpoint = api.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
            api.report({**tune_metrics, "finished": finished, "total_steps": total_steps}, checkpoint=checkpoint)

        if runtime:
            runtime.report_barrier = lambda: ray.train.report({}, checkpoint=None)
        def ready() -> None:
            # Start-up: from this process's launch by Ray (or, in a reused actor, from this trial's start) to the
            # first training step: imports, data, model.
            global _TRIALS_IN_PROCESS
            if rank == 0:
                import psutil

                since = psutil.Process().create_time() if _TRIALS_IN_PROCESS == 0 else entered
                store.annotate(payload["trial_id"], startup_s=time.time() - since,
                               reused_process=_TRIALS_IN_PROCESS > 0)
            _TRIALS_IN_PROCESS += 1

        run_trial(config, work_dir, report=report if rank == 0 else None, runtime=runtime, data=data, on_ready=ready)
        if rank == 0:
            store.mark_finished(payload["trial_id"])
    except (TrainingDiverged, DataError, ConfigError) as error:
        # A trial-specific failure: record why, end this trial only (retrying would fail the same way).
        if rank == 0:
            store.mark_failed(payload["trial_id"], f"{type(error).__name__}: {error}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _restore(checkpoint, directory: str) -> int | None:
    """Unpack a Ray checkpoint of a previous attempt where ``run_trial`` looks for its latest checkpoint;
    returns the step it holds (None when starting fresh)."""
    if checkpoint is None:
        return None
    from vlpet.train.checkpoint import checkpoint_step

    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, RESTORED)
    checkpoint.to_directory(target)
    with open(os.path.join(directory, "latest"), "w", encoding="utf-8") as handle:
        handle.write(RESTORED)
    return checkpoint_step(target)


def _train_runtime(precision: str):
    """The runtime of a Ray Train worker: its device, rank and DDP wrapping."""
    import ray.train
    import ray.train.torch

    from vlpet.train.runtime import Runtime

    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return Runtime(device=device, precision=precision, rank=context.get_world_rank(),
                   world_size=context.get_world_size(), wrap_model=ray.train.torch.prepare_model)
