"""What a Tune trial runs: the per-trial function, one per sampled configuration and seed.

* One worker per trial: the trial trains inside the Tune trial's own process (``worker.train_per_trial``).
  There is no DDP group to form, so this skips the Ray Train controller and worker actor start-up (seconds per
  trial); checkpoints go through ``ray.tune.report`` and a restarted trial resumes from
  ``ray.tune.get_checkpoint()``.
* Several workers: the Tune trial is a Ray Train driver: ``TorchTrainer(worker.train_per_worker).fit()`` with
  ``TuneReportCallback`` (the supported Ray 2.60 pattern, field_notes §3a). The workers form a DDP group; the
  run's name is deterministic per trial so a restored trial resumes the Train run from its own checkpoint.

While it runs, a trial is named in the Ray dashboard by a tag actor (vlpet.study.trial_tag) and its rank 0 sets
the trial's Ray metrics (vlpet.study.trial_metrics).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from vlpet.study.space import decode
from vlpet.study.spec import StudySpec
from vlpet.study.store import StudyStore, TrialStatus, config_key, is_uri
from vlpet.study.trial_tag import trial_label, trial_tag
from vlpet.study.worker import PAYLOAD, TrialPayload, train_per_trial, train_per_worker
from vlpet.trial_config import TrialConfig

DRIVER_CPU = 0.01          # a Train driver only waits on its workers; the workers hold the trial's CPUs/GPUs


def trial_config_for(spec: StudySpec, sampled: dict[str, Any], seed: int, base_dir: str | None = None) -> TrialConfig:
    """The trial's config; a relative ``data_dir`` is taken relative to ``base_dir`` (the driver's working
    directory: Tune runs each trial in its own trial directory)."""
    keys = spec.compose_trial(decode(spec, sampled), seed)
    data_dir = keys.get("data_dir")
    if base_dir and isinstance(data_dir, str) and data_dir and not is_uri(data_dir) and not os.path.isabs(data_dir):
        keys["data_dir"] = os.path.join(base_dir, os.path.expanduser(data_dir))
    return TrialConfig.from_dict(keys)


def make_trial_function(spec: StudySpec, study_dir: str) -> Callable[[dict], None]:
    """The Tune function for ``spec``; ``study_dir`` is the study's storage (shared path or URI)."""

    driver_dir = os.getcwd()

    def study_trial(tune_config: dict[str, Any]) -> None:
        import ray.tune

        payload = begin_trial(spec, study_dir, ray.tune.get_context().get_trial_id(), tune_config, driver_dir)
        trial_id = payload.trial_id
        with trial_tag(trial_id, payload.label):        # the trial's name in the Ray dashboard
            if spec.resources.workers <= 1:
                train_per_trial(payload)
            else:
                _fit_train_run(spec, payload)
        if StudyStore(study_dir).status_of(trial_id) is TrialStatus.ERROR:
            # Tune and the searcher need a last result: the objectives as NaN mark the trial as failed.
            ray.tune.report({**{key: float("nan") for key in spec.objectives}, "failed": True})

    return study_trial


def begin_trial(spec: StudySpec, study_dir: str, tune_trial_id: str, tune_config: dict[str, Any],
                driver_dir: str) -> TrialPayload:
    """Record the trial as RUNNING (again, for a restarted trial) and fix what its workers need. A seed of a
    resumed study keeps its stored trial id (``_trial_id``) and continues from ``_resume_from`` (see
    vlpet.study.recovery); the Tune trials that ran it are listed in its record (``tune_trials``), which is how
    a later resume finds their checkpoints."""
    sampled = {k: v for k, v in tune_config.items() if k != "seed" and not k.startswith("_")}
    seed = int(tune_config["seed"])
    trial_id = str(tune_config.get("_trial_id") or tune_trial_id)
    config = trial_config_for(spec, sampled, seed, base_dir=driver_dir)
    store = StudyStore(study_dir)
    tune_trials = list((store.status(trial_id) or {}).get("tune_trials") or [])
    record = store.mark_running(
        trial_id, config=config.to_dict(), sampled=decode(spec, sampled), config_key=config_key(sampled),
        seed=seed, resources=spec.resources.to_dict(),
        tune_trials=tune_trials + ([tune_trial_id] if tune_trial_id not in tune_trials else []))
    return TrialPayload(config=config, trial_id=trial_id, study=spec.name, study_dir=study_dir,
                        sampled=record["sampled"], config_key=record["config_key"], started=record["started"],
                        cpus_per_worker=float(spec.resources.cpus_per_worker),
                        resume_from=tune_config.get("_resume_from"),
                        label=trial_label(config.method, record["sampled"], seed))


def _fit_train_run(spec: StudySpec, payload: TrialPayload) -> None:
    """Train the trial on ``spec.resources.workers`` Ray Train workers (a DDP group) and wait for them."""
    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    gpus = float(spec.resources.gpus_per_worker)
    per_worker = {"CPU": float(spec.resources.cpus_per_worker)}
    if gpus:
        per_worker["GPU"] = gpus
    TorchTrainer(
        train_per_worker, train_loop_config={PAYLOAD: payload},
        scaling_config=ray.train.ScalingConfig(num_workers=int(spec.resources.workers), use_gpu=bool(gpus),
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(
            name=f"train-{payload.trial_id}", storage_path=_join(payload.study_dir, "train"),
            failure_config=ray.train.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            callbacks=[TuneReportCallback()]),
    ).fit()


def _join(location: str, name: str) -> str:
    return location.rstrip("/") + "/" + name
