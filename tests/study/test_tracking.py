"""Trackers and dashboards on one real study (issue 20, item 4): a tiny Optuna study (two configurations, one
seed) with ``tracking: {mlflow: {tracking_uri: sqlite:///...}}`` (and W&B offline where wandb is installed) runs
once on the module's Ray. MLflow's client reads the runs back; `vlpet dashboard` serves the finished study and
optuna-dashboard's HTTP API shows it. The tracking section's validation needs no Ray."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.study.ray_fixtures import write_study
from vlpet.errors import ConfigError
from vlpet.study.runner import run_study
from vlpet.study.tracking.settings import MlflowSpec, TrackingSpec, WandbSpec
from vlpet.study.spec import load_study, parse_study
from vlpet.study.store import StudyStore

HAS_WANDB = importlib.util.find_spec("wandb") is not None
STUDY = {"name": "s", "trial": {"backbone": "quickstart:tiny-bart", "task": "quickstart"},
         "search_space": {"lr": {"loguniform": [1.0e-4, 1.0e-2]}}}


@pytest.fixture(scope="module")
def tracked(ray_session, data, tmp_path_factory):
    """The finished study, its MLflow store and (with wandb) its W&B offline directory."""
    root = tmp_path_factory.mktemp("tracking")
    tracking = {"mlflow": {"tracking_uri": f"sqlite:///{root}/mlflow.db"}}
    if HAS_WANDB:
        tracking["wandb"] = {"project": "vlpet-tests", "mode": "offline", "dir": str(root / "wb")}
    path = write_study(root, data, name="tracked", seeds=[1], trial={"epochs": 1},
                       search={"algorithm": "tpe", "num_samples": 2, "max_concurrent": 2},
                       search_space={"granularity": {"choice": ["small", "large"]},
                                     "lr": {"loguniform": [1.0e-3, 1.0e-2]}},
                       tracking=tracking)
    started = time.time()
    outcome = run_study(load_study(path), verbose=0)
    ended = max(record["ended"] for record in StudyStore(outcome.study_dir).statuses())
    print(f"tracked study ({', '.join(tracking)}): {time.time() - started:.1f} s, of which {time.time() - ended:.1f} s "
          "after the last trial ended (adapter exports)")
    return {"dir": outcome.study_dir, "uri": tracking["mlflow"]["tracking_uri"], "wandb": root / "wb"}


@pytest.mark.slow
def test_mlflow_has_one_run_per_trial_with_its_configuration_evaluations_status_and_adapter(tracked, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracked["uri"])
    experiment = client.get_experiment_by_name("tracked")
    assert experiment.artifact_location == os.path.join(os.path.dirname(tracked["uri"][len("sqlite:///"):]),
                                                        "mlartifacts")    # beside the store, not in the cwd
    runs = {run.data.tags["vlpet.trial_id"]: run for run in client.search_runs([experiment.experiment_id])}
    store = StudyStore(tracked["dir"])
    statuses = {record["trial_id"]: record for record in store.statuses()}
    assert set(runs) == set(statuses) and len(runs) == 2
    for trial_id, run in runs.items():
        record, rows = statuses[trial_id], store.evaluations(trial_id)
        assert run.info.run_name == trial_id and run.info.status == "FINISHED"
        assert run.data.params == {"granularity": record["sampled"]["granularity"], "lr": str(record["sampled"]["lr"]),
                                   "seed": "1"}
        assert run.data.tags["vlpet.status"] == "TERMINATED" == record["status"]
        assert run.data.tags["vlpet.study"] == "tracked" and run.data.tags["vlpet.config_key"] == record["config_key"]
        history = client.get_metric_history(run.info.run_id, "metric")
        assert [(m.step, m.value) for m in history] == [(r["step"], pytest.approx(r["metric"])) for r in rows]
        assert len(client.get_metric_history(run.info.run_id, "trainable_pct")) == len(rows) >= 2
        assert run.data.metrics["test_metric"] == pytest.approx(rows[-1]["test_metric"])   # from the store
        assert not {"training_iteration", "time_this_iter_s", "timestamp"} & set(run.data.metrics)
        adapter = client.download_artifacts(run.info.run_id, "adapter", str(tmp_path / trial_id))
        described = json.loads(open(os.path.join(adapter, "vlpet_adapter.json")).read())
        assert described["source"]["trial_id"] == trial_id and described["layout"] == "native"
        assert os.path.getsize(os.path.join(adapter, "pet.safetensors")) > 0 and "README.md" in os.listdir(adapter)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (pip install 'vlpet[tracking]')")
def test_wandb_keeps_one_offline_run_per_trial_with_its_configuration(tracked):
    store = StudyStore(tracked["dir"])
    logs = {path.name: path.read_bytes() for path in tracked["wandb"].glob("wandb/offline-run-*/run-*.wandb")}
    assert set(logs) == {f"run-{record['trial_id']}.wandb" for record in store.statuses()}
    for record in store.statuses():
        log = logs[f"run-{record['trial_id']}.wandb"]        # W&B's protobuf log: the strings are stored as is
        assert record["config_key"].encode() in log and b"granularity" in log and b"vqa_acc" in log


@pytest.mark.slow
def test_vlpet_dashboard_serves_the_finished_study_through_optuna_dashboards_api(tracked):
    server = subprocess.Popen([sys.executable, "-m", "vlpet.cli", "dashboard", tracked["dir"], "--port", "0",
                               "--ray-address", "http://127.0.0.1:9"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline() for _ in range(3)]
        url = re.match(r"optuna-dashboard: (http://127\.0\.0\.1:\d+)/dashboard/studies/(\d+)", lines[0])
        assert url, lines
        assert lines[1].startswith("Ray dashboard: none answers at http://127.0.0.1:9")
        studies = json.loads(urllib.request.urlopen(f"{url[1]}/api/studies", timeout=10).read())["study_summaries"]
        name = StudyStore(tracked["dir"]).read_study().optuna_study_name
        assert [(s["study_id"], s["study_name"], s["directions"]) for s in studies] == [
            (int(url[2]), name, ["maximize", "minimize"])]
        study = json.loads(urllib.request.urlopen(f"{url[1]}/api/studies/{url[2]}", timeout=10).read())
        assert [t["state"] for t in study["trials"]] == ["Complete", "Complete"]
        granularities = {p["param_external_value"] for t in study["trials"] for p in t["params"]
                         if p["name"] == "granularity"}
        assert granularities == {r["sampled"]["granularity"] for r in StudyStore(tracked["dir"]).statuses()}
        assert urllib.request.urlopen(f"{url[1]}/dashboard/studies/{url[2]}", timeout=10).status == 200
        server.send_signal(signal.SIGINT)                     # Ctrl-C
        assert server.wait(timeout=30) == 0 and server.stdout.read().strip() == "stopped"
    finally:
        server.kill()
        server.wait()


def test_a_resumed_seed_logs_on_into_its_run_and_a_trial_cut_off_ends_killed(tmp_path):
    """Two drivers in turn (the second as `vlpet resume` starts it: a new Tune trial carrying the stored trial id),
    on a real sqlite store, with Tune's own Trial objects; no Ray needed."""
    from mlflow.tracking import MlflowClient
    from ray.tune.experiment import Trial

    from vlpet.study.tracking import tracking_callbacks

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = parse_study({**STUDY, "search_space": {"granularity": {"choice": ["small", "large"]}},
                        "tracking": {"mlflow": {"tracking_uri": uri, "experiment": "resumed"}}})
    first = Trial("study_trial", config={"granularity": "small", "seed": 7}, trial_id="aaaa0001", stub=True)
    again = Trial("study_trial", config={"granularity": "small", "seed": 7, "_trial_id": "aaaa0001"},
                  trial_id="bbbb0002", stub=True)
    for trial, step in ((first, 4), (again, 8)):                 # each driver: start, one evaluation, cut off
        (callback,) = tracking_callbacks(spec, str(tmp_path / "study"))
        callback.setup()
        callback.log_trial_start(trial)
        callback.log_trial_result(1, trial, {"metric": step / 10, "step": step, "training_iteration": 1})
        callback.on_experiment_end([trial])
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("resumed").experiment_id])
    assert run.info.run_name == "aaaa0001" and run.data.params == {"granularity": "small", "seed": "7"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "metric")] == [(4, 0.4), (8, 0.8)]
    assert run.info.status == "KILLED" and run.data.tags["vlpet.status"] == "STOPPED"


@pytest.mark.parametrize("tracking, message", [
    ({"mlflow": {"tracking_uri": "sqlite:///x.db", "experimnet": "e"}}, "tracking.mlflow: unknown key(s) ['experimnet']"),
    ({"mlfow": {}}, "tracking: unknown key(s) ['mlfow']"),
    ({"mlflow": {"tracking_uri": 5}}, "tracking.mlflow.tracking_uri: expected a non-empty string, got 5"),
    ({"mlflow": {"log_adapter": "yes"}}, "tracking.mlflow.log_adapter: expected true or false"),
    ({"mlflow": {"tracking_uri": "./mlruns"}}, "is MLflow's file store, which MLflow 3 refuses"),
    ({"mlflow": {"tracking_uri": "ftp://host/x"}}, "unknown scheme 'ftp'"),
    ({"mlflow": {"tracking_uri": "sqlite:///" + os.path.expanduser("~/.ssh/m.db")}}, "inside the credentials directory"),
    ({"wandb": {"project": "p", "mode": "offline", "dir": "/etc/wb"}}, "tracking.wandb.dir: '/etc/wb/wandb' resolves"),
    ({"wandb": {"mode": "offline"}}, "tracking.wandb.project: required"),
    ({"wandb": {"project": "p", "mode": "sometimes"}}, "tracking.wandb.mode: 'sometimes' is not allowed"),
    ("mlflow", "tracking: expected a mapping"),
])
def test_a_bad_tracking_section_is_one_line_naming_the_key(tracking, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        parse_study({**STUDY, "tracking": tracking})
    assert "\n" not in str(error.value)


def test_tracking_keys_have_help_and_a_key_alone_means_its_defaults():
    import dataclasses

    assert all(f.metadata.get("help") for section in (MlflowSpec, WandbSpec, TrackingSpec)
               for f in dataclasses.fields(section))
    spec = parse_study({**STUDY, "tracking": {"mlflow": None}})
    assert spec.tracking == TrackingSpec(mlflow=MlflowSpec()) and parse_study(STUDY).tracking == TrackingSpec()


def test_a_tracker_that_is_not_installed_is_refused_at_validation(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"tracking.mlflow: needs the mlflow-skinny package, which is not installed"):
        parse_study({**STUDY, "tracking": {"mlflow": {"tracking_uri": "sqlite:///x.db"}}})


def test_an_unreachable_tracking_server_is_one_line_before_anything_is_written(data, tmp_path, capsys):
    from vlpet.cli import main

    path = write_study(tmp_path, data, name="untracked", seeds=[1], trial={"epochs": 1},
                       tracking={"mlflow": {"tracking_uri": "http://127.0.0.1:9"}})    # nothing listens on port 9
    storage = tmp_path / "study"
    assert main(["run", str(path), "--storage", str(storage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tracking.mlflow: cannot open the tracking store http://127.0.0.1:9" in err[0]
    assert not storage.exists()


def _two_trials():
    from ray.tune.experiment import Trial

    return [Trial("study_trial", config={"granularity": g, "seed": 7}, trial_id=f"{g[:4]}0001", stub=True)
            for g in ("small", "large")]


def test_a_store_that_fails_mid_study_turns_the_tracker_off_with_one_warning_and_raises_nothing(tmp_path, caplog):
    """The store opens (a real sqlite one), then every call fails: the client now points at a server that is not
    there (nothing listens on port 9). One warning naming the store and the error, the tracker off, every later
    call a no-op, each call one short attempt (MLflow's own retries would take minutes), the user's HTTP
    settings back afterwards."""
    from mlflow.tracking import MlflowClient

    from vlpet.study.tracking import tracking_callbacks

    spec = parse_study({**STUDY, "search_space": {"granularity": {"choice": ["small", "large"]}},
                        "tracking": {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}}})
    (callback,) = tracking_callbacks(spec, str(tmp_path / "study"))
    callback.setup()
    callback._client = MlflowClient(tracking_uri="http://127.0.0.1:9")
    callback.tracking_uri = "http://127.0.0.1:9"
    first, second = _two_trials()
    started = time.time()
    with caplog.at_level("WARNING", logger="vlpet.tracking"):
        callback.log_trial_start(first)
        callback.log_trial_start(second)
        callback.log_trial_result(1, first, {"metric": 0.5, "step": 4})
        callback.log_trial_end(first)
        callback.on_experiment_end([first, second])
    assert time.time() - started < 15
    warnings = [r.getMessage() for r in caplog.records if r.name == "vlpet.tracking"]
    assert len(warnings) == 1 and callback.off
    assert warnings[0].startswith("warning: MLflow tracking is off for the rest of the study: a trial's start at "
                                  "the store http://127.0.0.1:9 failed: ") and "\n" not in warnings[0]
    assert callback._runs == {} and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_a_tracker_error_of_its_own_never_reaches_tune(tmp_path, caplog):
    """trial_view runs inside the guard: a trial whose config it cannot read (a key that is not a name) is a
    warning, not an exception into Tune's loop."""
    from ray.tune.experiment import Trial

    from vlpet.study.tracking import tracking_callbacks

    spec = parse_study({**STUDY, "search_space": {"granularity": {"choice": ["small", "large"]}},
                        "tracking": {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}}})
    (callback,) = tracking_callbacks(spec, str(tmp_path / "study"))
    callback.setup()
    with caplog.at_level("WARNING", logger="vlpet.tracking"):
        callback.log_trial_start(Trial("study_trial", config={1: "small", "seed": 7}, stub=True))
    assert callback.off and len([r for r in caplog.records if r.name == "vlpet.tracking"]) == 1


def test_resume_ends_the_runs_of_trials_its_dead_driver_left_running(tmp_path):
    """Driver 1 starts two trials' runs and dies; `vlpet resume` records one TERMINATED (its last evaluation ended
    its budget) and one STOPPED and restarts neither: the next driver's tracker ends their runs FINISHED (with
    the store's test metrics and an adapter export attempted, as at a trial's end) and KILLED."""
    from mlflow.tracking import MlflowClient

    from vlpet.study.runner import _mark_interrupted
    from vlpet.study.tracking import tracking_callbacks

    uri, study_dir = f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "study")
    spec = parse_study({**STUDY, "search_space": {"granularity": {"choice": ["small", "large"]}},
                        "tracking": {"mlflow": {"tracking_uri": uri, "experiment": "died"}}})
    store = StudyStore(study_dir)
    (callback,) = tracking_callbacks(spec, study_dir)
    callback.setup()
    for trial, finished in zip(_two_trials(), (True, False)):
        store.mark_running(trial.trial_id, config={"method": "lora"}, sampled=dict(trial.config), seed=7,
                           config_key="k")
        callback.log_trial_start(trial)
        row = {"config_key": "k", "seed": 7, "step": 4, "metric": 0.5, "metric_name": "vqa_acc", "finished": finished,
               **({"test_metric": 0.25} if finished else {})}
        store.append_evaluation(trial.trial_id, {"trial_id": trial.trial_id, **row})
        callback.log_trial_result(1, trial, {"metric": 0.5, "step": 4})
    _mark_interrupted(StudyStore(study_dir))                     # what vlpet resume records before it runs
    (resumed,) = tracking_callbacks(spec, study_dir)
    resumed.setup()
    resumed.on_experiment_end([])                                 # the adapter export is waited for
    client = MlflowClient(tracking_uri=uri)
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("died").experiment_id])}
    assert {name: (r.info.status, r.data.tags["vlpet.status"]) for name, r in runs.items()} == {
        "smal0001": ("FINISHED", "TERMINATED"), "larg0001": ("KILLED", "STOPPED")}
    assert runs["smal0001"].data.metrics["test_metric"] == 0.25
    assert "vlpet.adapter_error" in runs["smal0001"].data.tags     # this trial kept no adapter to export
    assert not resumed.off


def test_a_relative_or_default_sqlite_store_lies_in_the_study_directory_from_any_working_directory(
        tmp_path, monkeypatch):
    """A relative sqlite path and the default are resolved in the study directory, so `vlpet resume` (which
    re-reads the study from study.json) from another directory opens the same database."""
    from vlpet.study.runner import saved_study
    from vlpet.study.store import StudyRecord
    from vlpet.study.tracking.settings import mlflow_store_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study_dir = str(tmp_path / "study")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for tracking, expected in (({"tracking_uri": "sqlite:///runs/m.db"}, f"sqlite:///{study_dir}/runs/m.db"),
                               ({}, f"sqlite:///{study_dir}/mlflow.db"),
                               ({"tracking_uri": f"sqlite:///{tmp_path}/abs.db"}, f"sqlite:///{tmp_path}/abs.db"),
                               ({"tracking_uri": "http://127.0.0.1:5000"}, "http://127.0.0.1:5000")):
        monkeypatch.chdir(tmp_path / "a")
        spec = parse_study({**STUDY, "tracking": {"mlflow": tracking}})
        StudyStore(study_dir).write_study(StudyRecord(name="s", source=spec.source))
        assert mlflow_store_uri(spec.tracking.mlflow, study_dir) == expected
        monkeypatch.chdir(tmp_path / "b")                          # resume from elsewhere
        assert mlflow_store_uri(saved_study(study_dir).tracking.mlflow, study_dir) == expected
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert mlflow_store_uri(parse_study(STUDY | {"tracking": {"mlflow": None}}).tracking.mlflow,
                            study_dir) == f"sqlite:///{study_dir}/env.db"
    with pytest.raises(ConfigError, match=r"^tracking.mlflow.tracking_uri: the study directory s3://b/s is cloud "
                                          r"storage, where SQLite cannot keep m.db: give tracking_uri as an absolute"):
        mlflow_store_uri(parse_study({**STUDY, "tracking": {"mlflow": {"tracking_uri": "sqlite:///m.db"}}})
                         .tracking.mlflow, "s3://b/s")
    with pytest.raises(ConfigError, match="inside the credentials directory"):
        mlflow_store_uri(parse_study({**STUDY, "tracking": {"mlflow": {"tracking_uri": "sqlite:///m.db"}}})
                         .tracking.mlflow, os.path.expanduser("~/.ssh"))


def test_an_online_wandb_study_without_a_key_is_refused_before_any_directory_is_made(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from vlpet.study.tracking import tracking_callbacks

    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))             # no ~/.netrc from `wandb login`
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wbconfig"))
    spec = parse_study({**STUDY, "tracking": {"wandb": {"project": "p"}}})
    with pytest.raises(ConfigError, match="tracking.wandb: mode online needs a W&B API key"):
        tracking_callbacks(spec, str(tmp_path / "study"))
    assert not (tmp_path / "study").exists()
