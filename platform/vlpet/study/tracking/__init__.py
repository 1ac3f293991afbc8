"""Experiment trackers: every trial of a study logged to MLflow and/or Weights & Biases from the study driver.

Both go through Ray Tune's own logger callbacks (``ray.air.integrations.mlflow.MLflowLoggerCallback`` and
``ray.air.integrations.wandb.WandbLoggerCallback``), subclassed for what a vlpet study needs and they lack: one
run per vlpet trial (a seed resumed by ``vlpet resume`` keeps its run), the sampled configuration, seed and arm as
parameters instead of Tune's raw config, each evaluation at its optimizer step, the trial's status as vlpet
records it, its test metrics, and (MLflow) the trial's adapter as an artifact once it finished. The study file's
``tracking`` section (vlpet.study.tracking.settings.TrackingSpec) turns them on; docs/dashboards.md explains them.

Modules: ``settings`` (the study file's section, read while the study is parsed: this package imports nothing
of vlpet's when loaded, so the parser can use it), ``trials`` (what a tracker records about a trial),
``mlflow_runs`` and ``wandb_runs`` (the two callbacks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlpet.study.spec import StudySpec

__all__ = ["tracking_callbacks"]


def tracking_callbacks(spec: "StudySpec", study_dir: str) -> list:
    """The Tune callbacks of the trackers ``spec.tracking`` names (none: an empty list). Opens each tracker now,
    so an unreachable MLflow store or a missing W&B key is one ConfigError before any trial starts. W&B is
    checked first: it writes nothing until the study runs, while opening a new sqlite store creates its file."""
    callbacks: list = []
    if spec.tracking.wandb is not None:
        from vlpet.study.tracking.wandb_runs import StudyWandbCallback

        callbacks.append(StudyWandbCallback(spec, study_dir))
    if spec.tracking.mlflow is not None:
        from vlpet.study.tracking.mlflow_runs import StudyMLflowCallback

        callbacks.insert(0, StudyMLflowCallback(spec, study_dir))
    return callbacks
