"""Every trial of a study as one Weights & Biases run (``tracking.wandb`` in the study file).

Ray Tune's ``WandbLoggerCallback`` does the work: one logging actor per trial on the driver's node, which calls
``wandb.init`` and logs each reported result. :class:`StudyWandbCallback` gives it vlpet's runs: the run id and
name are the vlpet trial id (a seed resumed by ``vlpet resume`` logs on into its run), the run's config is the
sampled configuration, seed, configuration key and study instead of Tune's encoded config, runs are grouped by
study, and offline mode needs no API key. Offline runs are kept under ``dir`` (``DIR/wandb/offline-run-*``) for
``wandb sync`` later.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import wandb
from ray.air.integrations.wandb import WandbLoggerCallback, _clean_log, _set_api_key

from vlpet.errors import ConfigError
from vlpet.locations import check_output_location
from vlpet.study.spec import StudySpec
from vlpet.study.store import is_uri
from vlpet.study.tracking.trials import trial_view


class StudyWandbCallback(WandbLoggerCallback):
    """Ray Tune's W&B logger with vlpet's runs (see the module docstring). Online mode checks for an API key
    when built: a missing one is a ConfigError before any trial starts."""

    def __init__(self, spec: StudySpec, study_dir: str):
        settings = spec.tracking.wandb
        self.spec, self.offline = spec, settings.mode == "offline"
        # what Ray's __del__ reads, so that a callback refused below is collected quietly
        self._trial_logging_actors, self._trial_logging_futures = {}, {}
        self._logging_future_to_trial, self._trial_queues = {}, {}
        with self._mode():
            try:
                _set_api_key(None, None)          # the check Ray's own setup makes, here before any trial starts
            except ValueError:
                raise ConfigError("tracking.wandb: mode online needs a W&B API key (WANDB_API_KEY, or `wandb "
                                  "login`); or use mode: offline") from None
        directory = os.path.abspath(settings.dir or (os.getcwd() if is_uri(study_dir) else study_dir))
        # the same checks as the study's storage and the MLflow store (a given dir was checked when parsed)
        check_output_location(os.path.join(directory, "wandb"), "tracking.wandb.dir")
        extra = {"entity": settings.entity} if settings.entity else {}
        # silent: W&B's per-run banners and summaries would fill the study's terminal
        super().__init__(project=settings.project, group=spec.name, mode=settings.mode, dir=directory,
                         settings=wandb.Settings(silent=True), **extra)

    @contextmanager
    def _mode(self):
        """Ray reads the API key unless WANDB_MODE says offline; an offline study needs none."""
        saved = os.environ.get("WANDB_MODE")
        if self.offline:
            os.environ["WANDB_MODE"] = "offline"
        try:
            yield
        finally:
            if self.offline and saved is None:
                os.environ.pop("WANDB_MODE", None)
            elif self.offline:
                os.environ["WANDB_MODE"] = saved

    def setup(self, *args, **kwargs) -> None:
        os.makedirs(self.kwargs["dir"], exist_ok=True)    # only once the study runs: a refused one leaves nothing
        with self._mode():
            super().setup(*args, **kwargs)

    def log_trial_start(self, trial) -> None:
        view = trial_view(self.spec, trial)
        config = {**view["sampled"], "seed": view["seed"], "config_key": view["config_key"], "study": self.spec.name}
        init = dict(id=view["trial_id"], name=view["trial_id"], resume="allow", reinit=True, allow_val_change=True,
                    group=self.group, project=self.project, config=_clean_log(config),
                    tags=[f"seed-{view['seed']}", view["config_key"]])
        init.update(self.kwargs)
        self._start_logging_actor(trial, [*self._exclude_results, *self.excludes, "config"], **init)
