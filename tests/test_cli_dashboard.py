"""`vlpet dashboard` refuses what it cannot serve with one line and exit status 2, before it listens: a missing or
damaged study directory, a grid study (no Optuna storage), a damaged or foreign optuna.db, a busy port.
Serving a real finished study through optuna-dashboard's HTTP API: tests/study/test_tracking.py."""

from __future__ import annotations

import socket

import optuna
import pytest

from vlpet.cli import main
from vlpet.study.store import StudyRecord, StudyStore

OPTUNA_NAME = "tiny-20261128-120000-abcdef"


def study_dir(root, algorithm="tpe", database=True):
    """A study directory as `vlpet run` starts it: study.json, and for tpe/nsga2 its Optuna study in optuna.db."""
    StudyStore(str(root)).write_study(StudyRecord(name="tiny", source={"name": "tiny", "search": {"algorithm": algorithm}},
                                                  optuna_study_name=OPTUNA_NAME, seeds=(1,)))
    if database:
        optuna.create_study(study_name=OPTUNA_NAME, storage=f"sqlite:///{root}/optuna.db",
                            directions=["maximize", "minimize"])
    return str(root)


def refused(argv, capsys) -> str:
    assert main(["dashboard", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlpet dashboard: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_a_missing_directory_or_one_without_a_study_is_refused(tmp_path, capsys):
    assert "no such study directory" in refused([str(tmp_path / "nope")], capsys)
    assert "is not a study directory: it has no study.json" in refused([str(tmp_path)], capsys)


def test_a_damaged_study_json_is_refused(tmp_path, capsys):
    (tmp_path / "study.json").write_text('{"name": "tiny", "sour')
    assert "study.json is damaged (truncated JSON)" in refused([str(tmp_path)], capsys)


def test_a_grid_study_has_no_optuna_storage_to_serve(tmp_path, capsys):
    error = refused([study_dir(tmp_path, "grid", database=False)], capsys)
    assert "is a grid study: it has no Optuna storage" in error and "vlpet report" in error


def test_a_missing_damaged_or_foreign_optuna_database_is_refused(tmp_path, capsys):
    missing = study_dir(tmp_path / "missing", database=False)
    assert "has no optuna.db" in refused([missing], capsys)
    damaged = study_dir(tmp_path / "damaged", database=False)
    (tmp_path / "damaged" / "optuna.db").write_bytes(b"not a database at all")
    assert "optuna.db is damaged: not an SQLite database" in refused([damaged], capsys)
    foreign = study_dir(tmp_path / "foreign", database=False)
    optuna.create_study(study_name="someone-else", storage=f"sqlite:///{foreign}/optuna.db")
    assert f"does not hold the study's Optuna study '{OPTUNA_NAME}'" in refused([foreign], capsys)


def test_a_busy_port_or_a_bad_one_is_refused(tmp_path, capsys):
    directory = study_dir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        error = refused([directory, "--port", str(busy.getsockname()[1])], capsys)
    assert "cannot listen on 127.0.0.1:" in error and "--port 0" in error
    assert "--port 70000: expected 0 to 65535" in refused([directory, "--port", "70000"], capsys)


@pytest.mark.parametrize("argv", [["dashboard", "--help"]])
def test_help_names_the_defaults(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "127.0.0.1" in out and "8080" in out and "docs/dashboards.md" in out and "grid study" in out


def test_a_cloud_study_is_served_from_a_downloaded_copy_of_its_optuna_db(tmp_path, monkeypatch):
    """A study on S3 (moto's S3 server on 127.0.0.1, reached through the AWS environment): the command's own steps
    in this process, the database downloaded into a temporary directory that is gone once the command ends."""
    import contextlib
    import json
    import os
    import threading
    import urllib.request

    pytest.importorskip("moto")
    import boto3
    from moto.server import ThreadedMotoServer

    from vlpet.commands.dashboard import optuna_database, serve
    from vlpet.study.cloud import upload_optuna

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        boto3.client("s3").create_bucket(Bucket="studies")
        uri = "s3://studies/tiny"
        assert main(["dashboard", uri]) == 2                                # nothing there yet
        upload_optuna(f"{study_dir(tmp_path)}/optuna.db", uri)
        StudyStore(uri).write_study(StudyStore(str(tmp_path)).read_study())
        with contextlib.ExitStack() as stack:
            database, name = optuna_database(uri, stack)
            assert name == OPTUNA_NAME and os.path.isfile(database) and not database.startswith(str(tmp_path))
            dashboard = serve(database, "127.0.0.1", 0)
            threading.Thread(target=dashboard.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{dashboard.server_port}/api/studies"
            studies = json.loads(urllib.request.urlopen(url, timeout=10).read())["study_summaries"]
            dashboard.shutdown()
            dashboard.server_close()
        assert [s["study_name"] for s in studies] == [OPTUNA_NAME] and not os.path.exists(database)
    finally:
        server.stop()
