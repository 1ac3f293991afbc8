"""One trial's training on one process, shared by the two ways a trial runs (see vlpet.study.trainable).

:func:`train_per_trial` trains a one-worker trial inside the Tune trial's own process and talks to Ray through
``ray.tune``; :func:`train_per_worker` is Ray Train's per-worker function of a multi-worker trial and talks
through ``ray.train``. Both run :func:`train_and_record`: restore the latest checkpoint, train, and on rank 0
write every evaluation into the study's own store before reporting it to Ray, so Tune losing a result on
restore loses nothing the analysis reads.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from vlpet.errors import ConfigError, DataError, TrainingDiverged
from vlpet.study.store import StudyStore, write_artifact
from vlpet.study.trial_metrics import TrialMetrics
from vlpet.trial_config import TrialConfig

if TYPE_CHECKING:
    from vlpet.train.runtime import Runtime

RESTORED = "restored"
TEST_PREFIX = "test_"      # metrics of the held-out split (vlpet.train.evaluate.test_metrics)
PAYLOAD = "payload"        # the key of the TrialPayload in Ray Train's train_loop_config
# Tune reuses a one-worker trial's actor for the next trial, so only a process's first trial waited for the
# process itself to start: this numbers the trials begun in this process.
_TRIALS_BEGUN = itertools.count()


@dataclass(frozen=True)
class TrialPayload:
    """What a trial's workers need, fixed by the Tune trial before training starts."""

    config: TrialConfig
    trial_id: str
    study: str                  # the study's name
    study_dir: str              # the study's storage (shared path or URI)
    sampled: dict[str, Any]     # the searched keys and their values
    config_key: str             # the sampled configuration's id, shared by its seeds
    started: float              # the trial's first start (unix seconds), kept across restarts
    cpus_per_worker: float
    resume_from: str | None = None  # a resumed study's checkpoint of this seed (path or URI; vlpet.study.recovery)
    label: str = ""                 # the configuration label the Ray dashboard shows (vlpet.study.trial_tag)

    def evaluation_row(self, metrics: dict[str, Any], total_steps: int, checkpoint: str | None) -> dict[str, Any]:
        """The store's row of one evaluation (keys: vlpet.study.store)."""
        now = time.time()
        return {**metrics, "study": self.study, "config_key": self.config_key, "seed": self.config.seed,
                "config": self.config.to_dict(), "sampled": self.sampled, "total_steps": total_steps,
                "finished": int(metrics["step"]) >= total_steps, "time": now, "elapsed_s": now - self.started,
                "checkpoint": checkpoint}


def train_per_trial(payload: TrialPayload) -> None:
    """A one-worker trial, trained in the Tune trial's own process (no Ray Train controller, no DDP group)."""
    import ray.tune

    train_and_record(payload, ray.tune)


def train_per_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's per-worker function of a multi-worker trial (``train_loop_config={PAYLOAD: payload}``)."""
    import ray.train

    payload: TrialPayload = loop_config[PAYLOAD]
    runtime = _train_runtime(payload.config.precision)
    # Ranks other than 0 meet rank 0's reports here: Ray Train's report is a barrier.
    runtime.report_barrier = lambda: ray.train.report({}, checkpoint=None)
    train_and_record(payload, ray.train, runtime)


def train_and_record(payload: TrialPayload, session: ModuleType, runtime: Runtime | None = None) -> None:
    """Train ``payload``'s trial on this process, reporting through ``session`` (``ray.tune`` or ``ray.train``).
    Rank 0 records the trial in the store: its process, each evaluation, and how it ended; it also sets the
    trial's Ray metrics (vlpet.study.trial_metrics). A trial-specific failure (diverged loss, bad data or config)
    is recorded and ends this trial only."""
    startup_origin = _startup_origin()
    store = StudyStore(payload.study_dir) if runtime is None or runtime.is_main else None
    gauges = TrialMetrics(payload.trial_id, payload.study, payload.label) if store else None
    work_dir = tempfile.mkdtemp(prefix=f"vlpet-{payload.trial_id}-")
    try:
        resumed_from = _restore(session.get_checkpoint(), os.path.join(work_dir, "checkpoints"), payload.resume_from)
        if store:
            store.annotate(payload.trial_id, pid=os.getpid(), host=socket.gethostname(), node_id=_ray_node_id(),
                           resumed_from_step=resumed_from)
            gauges.started(payload.config.seed)
        _train(payload, session, runtime, work_dir, store, startup_origin, gauges)
        if store:
            store.mark_finished(payload.trial_id)
    except (TrainingDiverged, DataError, ConfigError) as error:
        # Retrying would fail the same way.
        if store:
            store.mark_failed(payload.trial_id, f"{type(error).__name__}: {error}")
    finally:
        if gauges:
            gauges.ended()
        shutil.rmtree(work_dir, ignore_errors=True)


def _ray_node_id() -> str | None:
    """The Ray node this attempt runs on (several nodes can share one host name)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _startup_origin() -> tuple[float, bool]:
    """Where this trial's start-up is measured from, and whether the process ran a trial before: a fresh
    process counts from its launch by Ray, a reused one from this trial's start."""
    import psutil

    reused = next(_TRIALS_BEGUN) > 0
    return (time.time() if reused else psutil.Process().create_time()), reused


def _train(payload: TrialPayload, session: ModuleType, runtime: Runtime | None, work_dir: str,
           store: StudyStore | None, startup_origin: tuple[float, bool], gauges: TrialMetrics | None = None) -> None:
    """Build the trial's data and run it; with ``store`` (rank 0) every evaluation is recorded and reported."""
    import torch

    from vlpet.train.data_pipeline import TrialData
    from vlpet.train.loop import run_trial

    torch.set_num_threads(max(1, int(payload.cpus_per_worker)))
    data = TrialData(payload.config)
    total_steps = data.total_steps(runtime.world_size if runtime else 1)
    report = on_ready = None
    if store:
        report = _StoreThenRay(payload, store, session, total_steps, gauges)
        on_ready = _startup_recorder(store, payload.trial_id, *startup_origin)
    run_trial(payload.config, work_dir, report=report, runtime=runtime, data=data, on_ready=on_ready)


def _startup_recorder(store: StudyStore, trial_id: str, since: float, reused: bool) -> Callable[[], None]:
    """``on_ready`` for ``run_trial``: start-up is imports, data and model, up to the first training step."""
    return lambda: store.annotate(trial_id, startup_s=time.time() - since, reused_process=reused)


@dataclass(frozen=True)
class _StoreThenRay:
    """Rank 0's ``report(metrics, checkpoint_dir)``: the evaluation goes into the study store, then to the
    trial's Ray metrics and to Tune."""

    payload: TrialPayload
    store: StudyStore
    session: ModuleType
    total_steps: int
    gauges: TrialMetrics | None = None

    def __call__(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        row = self.payload.evaluation_row(metrics, self.total_steps, checkpoint_dir)
        if row["finished"] and checkpoint_dir:
            row["artifact"] = keep_artifact(self.store, self.payload, metrics, checkpoint_dir)
        self.store.append_evaluation(self.payload.trial_id, row)
        if self.gauges:
            self.gauges.evaluated(metrics, self.total_steps)
        # The first four numbers are what Tune's progress table shows.
        shown = {k: metrics[k] for k in ("metric", "trainable_pct", "step", "train_step_s") if k in metrics}
        # Test metrics stay in the store: the searcher and the scheduler must never see the held-out split.
        scalars = {k: v for k, v in metrics.items()
                   if isinstance(v, (int, float, str, bool)) and not k.startswith(TEST_PREFIX)}
        checkpoint = self.session.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        self.session.report({**shown, **scalars, "finished": row["finished"], "total_steps": self.total_steps},
                            checkpoint=checkpoint)


def keep_artifact(store: StudyStore, payload: TrialPayload, metrics: dict[str, Any], checkpoint_dir: str) -> str:
    """Keep the weights the trial is judged by (its tested checkpoint: the best validation tensors for
    ``best_val``, else the final ones) with its config in ``STUDY_DIR/artifacts/<trial_id>`` past the trial's end,
    and note the location in its status record. Tune's own checkpoints keep serving restarts."""
    from vlpet.train.checkpoint import BEST_FILE, CONFIG_FILE, WEIGHTS_FILE

    best = os.path.join(checkpoint_dir, BEST_FILE)
    tested_best = metrics.get("tested_checkpoint") == "best_val" and metrics.get("tested_step") != metrics["step"]
    weights = best if tested_best and os.path.isfile(best) else os.path.join(checkpoint_dir, WEIGHTS_FILE)
    manifest = {"format": "vlpet-trial-artifact", "study": payload.study, "config_key": payload.config_key,
                "seed": payload.config.seed, "method": payload.config.method, "backbone": payload.config.backbone,
                "step": metrics["step"], "tested_checkpoint": metrics.get("tested_checkpoint", "last"),
                "tested_step": metrics.get("tested_step", metrics["step"]), "weights": WEIGHTS_FILE,
                "config": CONFIG_FILE, "created": time.time()}
    files = {WEIGHTS_FILE: weights, CONFIG_FILE: os.path.join(checkpoint_dir, CONFIG_FILE)}
    location = write_artifact(store, payload.trial_id, files, manifest)
    store.annotate(payload.trial_id, artifact=location)
    return location


def _restore(checkpoint, directory: str, resume_from: str | None = None) -> int | None:
    """Unpack a Ray checkpoint of a previous attempt (else the checkpoint a resumed study names,
    ``resume_from``) where ``run_trial`` looks for its latest checkpoint; returns the step it holds (None when
    starting fresh). Only vlpet's own checkpoint files are read from it, never a pickle."""
    if checkpoint is None and not resume_from:
        return None
    from vlpet.train.checkpoint import checkpoint_step

    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, RESTORED)
    if checkpoint is not None:
        checkpoint.to_directory(target)
    else:
        _copy_checkpoint(resume_from, target)
    with open(os.path.join(directory, "latest"), "w", encoding="utf-8") as handle:
        handle.write(RESTORED)
    return checkpoint_step(target)


def _copy_checkpoint(location: str, target: str) -> None:
    """Copy vlpet's checkpoint files (and nothing else) from ``location`` (a path or URI) into ``target``."""
    import pyarrow.fs as pafs

    from vlpet.train.checkpoint import BEST_FILE, CONFIG_FILE, PROGRESS_FILE, STATE_FILE, WEIGHTS_FILE

    filesystem, root = pafs.FileSystem.from_uri(location) if "://" in location else (pafs.LocalFileSystem(), location)
    os.makedirs(target, exist_ok=True)
    for name in (WEIGHTS_FILE, STATE_FILE, CONFIG_FILE, PROGRESS_FILE, BEST_FILE):
        source = root.rstrip("/") + "/" + name
        if filesystem.get_file_info(source).type != pafs.FileType.File:
            continue
        with filesystem.open_input_stream(source) as stream, open(os.path.join(target, name), "wb") as handle:
            shutil.copyfileobj(stream, handle)


def _train_runtime(precision: str) -> Runtime:
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
