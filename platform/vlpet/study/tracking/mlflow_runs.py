"""Every trial of a study as one MLflow run, logged from the study driver (``tracking.mlflow`` in the study file).

Ray Tune's ``MLflowLoggerCallback`` opens the tracking store and the experiment and is called at each trial's
start, result and end; :class:`StudyMLflowCallback` keeps that and adds what a vlpet study needs:

* one run per vlpet trial, named by its trial id and tagged ``vlpet.trial_id``, ``vlpet.study``,
  ``vlpet.config_key``, ``vlpet.seed``: a seed that ``vlpet resume`` continues under its stored id logs on into
  the same run;
* parameters: the sampled configuration as trial-config values (``arm`` included) and the seed, not Tune's
  encoded config;
* every evaluation's metrics in one batch at the trial's optimizer ``step`` (Tune's bookkeeping keys left out);
  at the end the final evaluation's ``test_*`` metrics from the study store (they never reach Tune);
* at the end the tag ``vlpet.status`` (TERMINATED, STOPPED or ERROR as vlpet recorded it; the run ends FINISHED,
  KILLED or FAILED) and, for a trial that finished its budget, its adapter as the artifact ``adapter/``, written
  by ``vlpet adapter export`` in a process of its own, beside the study (no model is built in the driver);
* a new experiment on a local sqlite store keeps its artifacts in ``mlartifacts/`` beside the database, not in
  the working directory.

Where the runs go: ``tracking_uri`` as written, a relative ``sqlite:///`` path inside the study directory, by
default ``sqlite:///STUDY_DIR/mlflow.db`` (vlpet.study.tracking.settings.mlflow_store_uri), so ``vlpet resume``
opens the same store from any working directory. When it starts, a resumed study ends the runs of trials its
store says have ended (``vlpet resume`` records a trial its dead driver left running as TERMINATED or STOPPED
and does not restart it).

Every call to the store is one attempt with a short timeout, never MLflow's minutes of retries on Tune's loop;
the first call that fails turns the tracker off for the rest of the study (one warning line naming the store and
the error). Nothing a tracker does raises into Tune.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.result import AUTO_RESULT_KEYS

from vlpet.errors import ConfigError
from vlpet.study.spec import StudySpec
from vlpet.study.store import StudyStore, TrialStatus, artifact_location
from vlpet.study.tracking.settings import SQLITE, mlflow_store_uri
from vlpet.study.tracking.trials import trial_view

_log = logging.getLogger("vlpet.tracking")
RUN_STATUS = {TrialStatus.TERMINATED: "FINISHED", TrialStatus.STOPPED: "KILLED", TrialStatus.ERROR: "FAILED"}
NOT_METRICS = {*AUTO_RESULT_KEYS, "done", "should_checkpoint", "trial_id", "experiment_tag", "experiment_id"}
TEST_PREFIX = "test_"
ADAPTER_DIR = "adapter"
EXPORT_TIMEOUT_S = 1800
EXPORTS_AT_ONCE = 2
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
BATCH = 500                   # MLflow takes at most 1000 metrics and 100 params or tags per log_batch


class StudyMLflowCallback(MLflowLoggerCallback):
    """Ray Tune's MLflow logger with vlpet's runs (see the module docstring). Opens the store and the experiment
    when built: a bad tracking URI or an unreachable server is a ConfigError before any trial starts."""

    def __init__(self, spec: StudySpec, study_dir: str):
        settings = spec.tracking.mlflow
        super().__init__(tracking_uri=mlflow_store_uri(settings, study_dir),
                         experiment_name=settings.experiment or spec.name, tags={"vlpet.study": spec.name})
        self.spec, self.study_dir, self.log_adapter = spec, study_dir, settings.log_adapter
        self.artifact_location = settings.artifact_location
        self._runs: dict[str, str] = {}          # vlpet trial id -> MLflow run id
        self._exports: ThreadPoolExecutor | None = None
        self._client = None
        self.off = False                          # set by the first call that fails: the tracker is left behind
        self._open()

    def _open(self) -> None:
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)    # not its "Creating initial database tables" lines
        try:
            if self.tracking_uri.startswith(SQLITE):        # a new local store: its folder (the study's, by default)
                os.makedirs(os.path.dirname(self.tracking_uri[len(SQLITE):].split("?", 1)[0]), exist_ok=True)
            with _quick_http():
                mlflow.set_tracking_uri(self.tracking_uri)
                self.mlflow_util.setup_mlflow(tracking_uri=mlflow.get_tracking_uri(),
                                              experiment_name=self.experiment_name,
                                              artifact_location=self.artifact_location or default_artifacts(
                                                  mlflow.get_tracking_uri()))
        except Exception as error:  # noqa: BLE001 - MLflow raises many kinds for a store it cannot open
            raise ConfigError(f"tracking.mlflow: cannot open the tracking store {mlflow.get_tracking_uri()}: "
                              f"{' '.join(str(error).split())[:300]}") from None
        self.tracking_uri = mlflow.get_tracking_uri()

    def setup(self, *args, **kwargs) -> None:
        self._open()
        # trials of a study often end together: two exports at once halve the wait at the study's end
        self._exports = ThreadPoolExecutor(max_workers=EXPORTS_AT_ONCE, thread_name_prefix="vlpet-mlflow-adapter")
        self._guard("closing the runs of ended trials", self._close_ended)

    def _close_ended(self) -> None:
        """End the runs still RUNNING whose trials the store says have ended (a resumed study: the trials its
        dead driver left running, which ``vlpet resume`` recorded and does not restart), as at a trial's end."""
        ended = {record["trial_id"] for record in StudyStore(self.study_dir).statuses()
                 if TrialStatus(record["status"]).ended}
        if not ended:
            return
        query = f"attributes.status = 'RUNNING' and tags.`vlpet.study` = '{self.spec.name}'"
        token = None
        while True:
            page = self.client.search_runs([self.mlflow_util.experiment_id], filter_string=query,
                                           max_results=1000, page_token=token)
            for run in page:
                trial_id = run.data.tags.get("vlpet.trial_id")
                if trial_id in ended and trial_id not in self._runs:
                    self._end_run(trial_id, run.info.run_id, False)
            token = page.token
            if not token:
                return

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        """Tune copies and pickles its callbacks with the run config: the client and the export thread stay."""
        return {**self.__dict__, "_client": None, "_exports": None}

    def _guard(self, what: str, action, *args) -> None:
        """Run one tracker call: nothing once the tracker is off; a failure is one warning line and turns it off
        for the rest of the study (a store that is down would cost every later call its timeout), never an
        exception into Tune. Calls to the store make one attempt with a short timeout (:func:`_quick_http`)."""
        if self.off:
            return
        try:
            with _quick_http():
                action(*args)
        except Exception as error:  # noqa: BLE001 - a tracker's failure must not stop the study
            with _OFF_LOCK:
                if self.off:
                    return
                self.off = True
            _log.warning("warning: MLflow tracking is off for the rest of the study: %s at the store %s failed: %s",
                         what, self.tracking_uri, " ".join(str(error).split())[:300])

    def log_trial_start(self, trial) -> None:
        self._guard("a trial's start", self._start_run, trial)

    def _start_run(self, trial) -> None:
        from mlflow.entities import Param

        view = trial_view(self.spec, trial)
        trial_id, client = view["trial_id"], self.client
        if trial_id in self._runs:
            return
        found = client.search_runs([self.mlflow_util.experiment_id],
                                   filter_string=f"tags.`vlpet.trial_id` = '{trial_id}'", max_results=1)
        if found:                                   # a resumed seed logs on into its run
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            tags = {**self.tags, "vlpet.trial_id": trial_id, "vlpet.config_key": view["config_key"],
                    "vlpet.seed": str(view["seed"]), "vlpet.status": TrialStatus.RUNNING.value}
            run_id = client.create_run(self.mlflow_util.experiment_id, run_name=trial_id, tags=tags).info.run_id
            params = {**view["sampled"], "seed": view["seed"]}
            for chunk in _chunks([Param(str(k), _text(v)) for k, v in sorted(params.items())], 100):
                client.log_batch(run_id, params=chunk)
        self._runs[trial_id] = run_id

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        self._guard("an evaluation's metrics", self._log_result, iteration, trial, result)

    def _log_result(self, iteration: int, trial, result: dict) -> None:
        trial_id = trial_view(self.spec, trial)["trial_id"]
        if trial_id in self._runs and not result.get("failed"):     # a failed trial's last report is NaN markers
            step = result.get("step", result.get("training_iteration", iteration))
            self._log_metrics(self._runs[trial_id], evaluation_metrics(result), step)

    def _log_metrics(self, run_id: str, metrics: dict[str, float], step: Any) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [Metric(key, value, now, int(step)) for key, value in sorted(metrics.items())]
        for chunk in _chunks(entries, BATCH):
            self.client.log_batch(run_id, metrics=chunk)

    def log_trial_end(self, trial, failed: bool = False) -> None:
        self._guard("a trial's end", self._trial_end, trial, failed)

    def _trial_end(self, trial, failed: bool) -> None:
        trial_id = trial_view(self.spec, trial)["trial_id"]
        run_id = self._runs.pop(trial_id, None)
        if run_id is not None:
            self._end_run(trial_id, run_id, failed)

    def _end_run(self, trial_id: str, run_id: str, failed: bool) -> None:
        store = StudyStore(self.study_dir)
        status = store.status_of(trial_id) or (TrialStatus.ERROR if failed else TrialStatus.STOPPED)
        if not status.ended:                        # cut off at the experiment's end: the runner records STOPPED
            status = TrialStatus.STOPPED
        rows = store.evaluations(trial_id)
        tests = {k: float(v) for k, v in (rows[-1] if rows else {}).items()
                 if k.startswith(TEST_PREFIX) and _number(v)}
        if tests:
            self._log_metrics(run_id, tests, rows[-1]["step"])
        client = self.client
        client.set_tag(run_id, "vlpet.status", status.value)
        client.set_terminated(run_id, RUN_STATUS.get(status, "KILLED"))
        if self.log_adapter and status is TrialStatus.TERMINATED and self._exports is not None:
            self._exports.submit(self._guard, "logging an adapter", self._log_adapter, trial_id, run_id)

    def _log_adapter(self, trial_id: str, run_id: str) -> None:
        """``vlpet adapter export STUDY_DIR --trial ID`` into a temporary directory, logged as ``adapter/``; an
        export that fails (a trial that kept no artifact, a method without an export) leaves the tag
        ``vlpet.adapter_error`` with its one-line reason."""
        with tempfile.TemporaryDirectory(prefix="vlpet-mlflow-") as work:
            out = os.path.join(work, ADAPTER_DIR)
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "vlpet.cli", "adapter", "export", self.study_dir, "--trial", trial_id,
                     "--out", out], capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
                    env={"OMP_NUM_THREADS": "1", **os.environ})     # it runs beside training trials
                reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:500] if done.returncode else ""
            except subprocess.TimeoutExpired:          # the export's failure, not the store's
                reason = f"the export took over {EXPORT_TIMEOUT_S} s"
            if reason:
                self.client.set_tag(run_id, "vlpet.adapter_error", reason)
                _log.warning("warning: MLflow run of trial %s: its adapter was not exported: %s", trial_id, reason)
                return
            self.client.log_artifacts(run_id, out, ADAPTER_DIR)
            self.client.set_tag(run_id, "vlpet.artifact", artifact_location(self.study_dir, trial_id))

    def on_experiment_end(self, trials, **info) -> None:
        """Runs still open (trials cut off by the time budget) end KILLED; the adapter exports are waited for."""
        for trial_id, run_id in list(self._runs.items()):
            self._guard("a trial's end", self._end_run, trial_id, run_id, False)
        self._runs.clear()
        if self._exports is not None:
            self._exports.shutdown(wait=True)


_HTTP_LOCK, _OFF_LOCK = threading.Lock(), threading.Lock()
_http_users: list[dict[str, str | None]] = []       # the settings saved by the first of the calls in progress


@contextlib.contextmanager
def _quick_http():
    """While a call to the store runs: one attempt with a short timeout, so an unreachable server costs seconds
    (MLflow's defaults retry for minutes, on Tune's loop). MLflow reads these from the environment at each
    request; calls from the driver's loop and the adapter threads may overlap, so the first to start sets them
    and the last to end puts the user's own back."""
    with _HTTP_LOCK:
        if not _http_users:
            saved = {key: os.environ.get(key) for key in HTTP_SETTINGS}
            os.environ.update(HTTP_SETTINGS)
            _http_users.append(saved)
        else:
            _http_users.append(_http_users[0])
    try:
        yield
    finally:
        with _HTTP_LOCK:
            saved = _http_users.pop()
            if not _http_users:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def default_artifacts(tracking_uri: str) -> str | None:
    """Where a new experiment on a local sqlite store keeps artifacts: ``mlartifacts/`` beside the database
    (MLflow's own default is ``./mlruns`` in whatever directory the driver runs in). None for other stores."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = tracking_uri[len("sqlite:///"):]
    return os.path.join(os.path.dirname(os.path.abspath(database)), "mlartifacts")


def evaluation_metrics(result: dict) -> dict[str, float]:
    """The numeric metrics of one reported evaluation, without Tune's bookkeeping keys."""
    return {key: float(value) for key, value in result.items() if key not in NOT_METRICS and _number(value)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]

