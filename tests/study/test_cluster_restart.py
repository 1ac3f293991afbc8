"""A head node restarted between submit and resume (`ray start --head` stopped and started again on the same
ports): `vlpet resume` continues the study from its storage path; finished trials keep their results."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest

from tests.study.ray_fixtures import BIN, mini_data, start_head, stop_head, write_study
from tests.train.ddp import free_port
from vlpet.cli import main
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


def test_a_study_resumes_from_its_storage_after_the_head_node_restarts(tmp_path, monkeypatch):
    token_file = tmp_path / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token_file))
    gcs, dashboard = free_port(), free_port()
    address = f"http://127.0.0.1:{dashboard}"
    study = write_study(tmp_path, mini_data(tmp_path), name="restart", seeds=[1],
                        trial={"epochs": 6, "eval_every_steps": 6}, search={"algorithm": "grid", "max_concurrent": 1})
    storage = str(tmp_path / "on-cluster")
    store = StudyStore(storage)
    head = start_head(tmp_path, token_file, gcs, dashboard)
    try:
        assert main(["submit", str(study), "--address", address, "--storage", storage]) == 0
        deadline = time.time() + 240
        while not any(s["status"] == "TERMINATED" for s in store.statuses()):
            assert time.time() < deadline, "no trial finished on the first head"
            time.sleep(0.5)
    finally:
        stop_head(head)                                            # ray stop: the job's driver dies with it
    done = next(s for s in store.statuses() if s["status"] == "TERMINATED")
    kept = store.evaluations(done["trial_id"])
    head = start_head(tmp_path, token_file, gcs, dashboard)
    try:
        resumed = subprocess.run([os.path.join(BIN, "vlpet"), "resume", storage, "--address", f"127.0.0.1:{gcs}",
                                  "--quiet"], capture_output=True, text=True, timeout=400,
                                 env={**os.environ, "RAY_AUTH_TOKEN_PATH": str(token_file)})
    finally:
        stop_head(head)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished = [s for s in store.statuses() if s["status"] == "TERMINATED"]
    assert sorted(s["sampled"]["granularity"] for s in finished) == ["large", "small"]
    assert store.evaluations(done["trial_id"]) == kept
