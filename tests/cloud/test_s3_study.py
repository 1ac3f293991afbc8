"""A study on S3 end to end, against a real S3 API on 127.0.0.1 (moto's standalone server, one per module): the
endpoint and credentials come from the standard AWS environment only. `vlpet run --storage s3://…` with its driver
killed mid-study, `vlpet resume s3://…` finishing it (the Optuna database downloaded from the bucket), the
database in the bucket holding the study's trials, `vlpet export`/`pareto`/`report` reading the bucket, and an
unreachable endpoint refused in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pyarrow.fs as pafs
import pytest

from tests.study.ray_fixtures import kill_mid_study, kill_session, write_study
from vlpet.cli import main
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow
BUCKET = "vlpet-studies"


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on a free port, reached through the AWS environment variables; a bucket in it."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "vlpet-test", "AWS_SECRET_ACCESS_KEY": "vlpet-test-secret",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        try:
            yield env
        finally:
            server.stop()


@pytest.fixture(scope="module")
def killed(s3, tmp_path_factory, data):
    """A TPE study of two configurations on s3:// whose driver (with its Ray) was killed once one configuration
    had ended and the other had stored a checkpoint in the bucket."""
    root = tmp_path_factory.mktemp("cloud")
    path = write_study(root, data, name="cloudy", seeds=[1],
                       search={"algorithm": "tpe", "num_samples": 2, "max_concurrent": 1},
                       trial={"epochs": 6, "eval_every_steps": 6})
    uri = f"s3://{BUCKET}/studies/cloudy"
    store = StudyStore(uri)
    statuses = kill_mid_study([str(path), "--storage", uri, "--num-cpus", "2", "--quiet"], store, 420,
                              "a finished trial and a checkpointed one in the bucket", cwd=root,
                              stdout=open(root / "run.log", "wb"), stderr=subprocess.STDOUT)
    return {"uri": uri, "root": root, "cut": statuses["RUNNING"]["trial_id"]}


@pytest.fixture(scope="module")
def resumed(killed):
    """`vlpet resume s3://…` from another working directory (no local copy of the Optuna database there)."""
    elsewhere = killed["root"] / "elsewhere"
    elsewhere.mkdir()
    log = elsewhere / "resume.log"
    driver = subprocess.Popen([sys.executable, "-m", "vlpet.cli", "resume", killed["uri"], "--num-cpus", "2", "--quiet"],
                              cwd=elsewhere, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        driver.wait(timeout=600)
    finally:
        kill_session(driver)                 # its Ray too, also when it ran out of time
    assert driver.returncode == 0, log.read_text()[-3000:]
    return {**killed, "out": log.read_text()}


def test_a_killed_cloud_study_resumes_to_the_end_from_the_bucket(resumed):
    store = StudyStore(resumed["uri"])
    statuses = {s["trial_id"]: s for s in store.statuses()}
    assert len(statuses) == 2 and {s["status"] for s in statuses.values()} == {"TERMINATED"}
    cut = statuses[resumed["cut"]]
    assert cut["resumed_from_step"] > 0                     # continued from its checkpoint in the bucket
    steps = [row["step"] for row in store.evaluations(resumed["cut"])]
    assert steps == sorted(set(steps)) and store.evaluations(resumed["cut"])[-1]["finished"]


def test_the_bucket_holds_the_optuna_database_with_the_studys_trials(resumed, tmp_path):
    import optuna

    filesystem, root = pafs.FileSystem.from_uri(resumed["uri"])
    local = tmp_path / "optuna.db"
    with filesystem.open_input_stream(f"{root}/optuna.db") as stream:
        local.write_bytes(stream.read())
    name = StudyStore(resumed["uri"]).read_study().optuna_study_name
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{local}")
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    statuses = sorted(StudyStore(resumed["uri"]).statuses(), key=lambda s: s["started"])
    assert {t.params["granularity"] for t in complete} == {s["sampled"]["granularity"] for s in statuses}
    # the killed driver's first told configuration came back from the bucket (resume ran where no local copy was;
    # decided configurations are told again on resume, so the study holds more trials than the store)
    first = study.trials[0]
    assert first.state == optuna.trial.TrialState.COMPLETE
    assert first.params["granularity"] == statuses[0]["sampled"]["granularity"]


def test_export_pareto_and_report_read_the_bucket(resumed, tmp_path, capsys):
    uri = resumed["uri"]
    assert main(["export", uri, "--format", "csv", "--out", str(tmp_path / "table.csv")]) == 0
    assert "granularity" in (tmp_path / "table.csv").read_text()
    capsys.readouterr()
    assert main(["pareto", uri, "--out", str(tmp_path / "pareto.png")]) == 0
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG" and "granularity" in capsys.readouterr().out
    assert main(["report", uri]) == 0
    filesystem, root = pafs.FileSystem.from_uri(uri)
    page = filesystem.get_file_info(f"{root}/report/report.html")
    assert page.type == pafs.FileType.File and page.size > 1000


def test_an_unreachable_endpoint_is_one_line_and_exit_2_within_seconds(s3, tmp_path, data, monkeypatch, capsys):
    from tests.train.ddp import free_port

    path = write_study(tmp_path, data, name="nowhere", seeds=[1])
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")     # nothing listens there
    started = time.time()
    assert main(["run", str(path), "--storage", f"s3://{BUCKET}/nowhere", "--quiet"]) == 2
    elapsed = time.time() - started
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not reachable" in err and "Traceback" not in err
    assert elapsed < 5, elapsed


def test_missing_credentials_are_one_line_and_exit_2(s3, tmp_path, data, monkeypatch, capsys):
    path = write_study(tmp_path, data, name="anonymous", seeds=[1])
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["run", str(path), "--storage", f"s3://{BUCKET}/anonymous", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AWS_ACCESS_KEY_ID" in err
