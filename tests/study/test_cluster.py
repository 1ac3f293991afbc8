"""A real Ray head (`ray start --head` on 127.0.0.1, token authentication on): a study goes in through the
Ray Jobs API with `vlpet submit`, is followed with `vlpet status` / `vlpet logs`, and leaves its results."""

from __future__ import annotations

import secrets

import pytest

from tests.study.ray_fixtures import http_status, mini_data, start_head, stop_head, write_study
from tests.train.ddp import free_port
from vlpet.cli import main
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A head node of its own (own token file, free ports), stopped with its whole process group."""
    root = tmp_path_factory.mktemp("head")
    token_file = root / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    dashboard = free_port()
    process = start_head(root, token_file, free_port(), dashboard)
    try:
        yield {"address": f"http://127.0.0.1:{dashboard}", "token_file": str(token_file), "root": root}
    finally:
        stop_head(process)


def test_the_jobs_api_refuses_requests_without_the_token(head):
    assert http_status(f"{head['address']}/api/jobs/") == 401


def test_submitted_study_runs_on_the_cluster_and_leaves_its_results(head, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", head["token_file"])
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    study = write_study(tmp_path, mini_data(tmp_path), name="cluster", seeds=[1],
                        trial={"visual_feat_dim": 192})
    storage = str(tmp_path / "on-cluster")
    assert main(["submit", str(study), "--address", head["address"], "--storage", storage]) == 0
    out = capsys.readouterr().out
    job = out.split("submitted job ")[1].split()[0]
    assert head["address"] in out
    assert main(["logs", job, "--follow", "--address", head["address"]]) == 0
    logs = capsys.readouterr().out
    assert "study finished" in logs and f"[job {job}: SUCCEEDED]" in logs
    assert main(["status", "--address", head["address"]]) == 0
    listing = capsys.readouterr().out
    assert job in listing and "SUCCEEDED" in listing and "cluster" in listing
    statuses = StudyStore(storage).statuses()
    assert sorted(s["sampled"]["granularity"] for s in statuses) == ["large", "small"]
    assert {s["status"] for s in statuses} == {"TERMINATED"}


def test_submit_refuses_plain_http_to_a_remote_host(tmp_path, capsys):
    study = write_study(tmp_path, tmp_path, name="remote", seeds=[1])
    assert main(["submit", str(study), "--address", "http://192.0.2.10:8265"]) == 2
    assert "plain HTTP" in capsys.readouterr().err


def _job_of(out: str) -> str:
    return out.split("submitted job ")[1].split()[0]


def _storage_of(out: str) -> str:
    return out.split("study directory on the cluster: ")[1].splitlines()[0].strip()


def test_the_same_study_submitted_twice_runs_twice_and_resubmission_is_refused_or_resumed(head, tmp_path, monkeypatch,
                                                                                          capsys):
    """Two consecutive submissions of one study file both SUCCEED in storages of their own; a submission into a
    storage that holds a study is refused before any job starts; `--resume` continues a study on the cluster."""
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", head["token_file"])
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    study = write_study(tmp_path, mini_data(tmp_path), name="again", seeds=[1],
                        search_space={"granularity": {"choice": ["small"]}}, trial={"epochs": 1})
    storages = []
    for _ in range(2):
        assert main(["submit", str(study), "--address", head["address"], "--wait"]) == 0
        out = capsys.readouterr().out
        assert f"[job {_job_of(out)}: SUCCEEDED]" in out
        storages.append(_storage_of(out))
    assert storages[0] != storages[1] and all(s.startswith(str(tmp_path / "again-")) for s in storages)
    assert [len(StudyStore(s).statuses()) for s in storages] == [1, 1]
    assert main(["status", "--address", head["address"]]) == 0
    listing = capsys.readouterr().out
    assert all(storage in listing for storage in storages)

    assert main(["submit", str(study), "--address", head["address"], "--storage", storages[0]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a study" in err and "--resume" in err

    assert main(["submit", "--resume", storages[0], "--address", head["address"], "--wait"]) == 0
    out = capsys.readouterr().out
    assert f"[job {_job_of(out)}: SUCCEEDED]" in out and _storage_of(out) == storages[0]
    assert [s["status"] for s in StudyStore(storages[0]).statuses()] == ["TERMINATED"]
