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
