"""Experiment trackers: every trial of a study logged to MLflow and/or Weights & Biases from the study driver.

Both go through Ray Tune's own logger callbacks (``ray.air.integrations.mlflow.MLflowLoggerCallback`` and
``ray.air.integrations.wandb.WandbLoggerCallback``), subclassed for what a vlpet study needs and they lack: one
run per vlpet trial (a seed resumed by ``vlpet resume`` keeps its run), the sampled configuration, seed and arm as
parameters instead of Tune's raw config, each evaluation at its optimizer step, the trial's status as vlpet
records it, its test metrics, and (MLflow) the trial's adapter as an artifact once it finished. The study file's
``tracking`` section (vlpet.study.sections.TrackingSpec) turns them on; docs/dashboards.md explains them.
"""

from __future__ import annotations

from vlpet.study.spec import StudySpec
from vlpet.study.tracking.trials import trial_view

__all__ = ["tracking_callbacks", "trial_view"]


def tracking_callbacks(spec: StudySpec, study_dir: str) -> list:
    """The Tune callbacks of the trackers ``spec.tracking`` names (none: an empty list). Opens each tracker now,
    so an unreachable MLflow store or a missing W&B key is one ConfigError before any trial starts."""
    callbacks: list = []
    if spec.tracking.mlflow is not None:
        from vlpet.study.tracking.mlflow_runs import StudyMLflowCallback

        callbacks.append(StudyMLflowCallback(spec, study_dir))
    if spec.tracking.wandb is not None:
        from vlpet.study.tracking.wandb_runs import StudyWandbCallback

        callbacks.append(StudyWandbCallback(spec, study_dir))
    return callbacks
