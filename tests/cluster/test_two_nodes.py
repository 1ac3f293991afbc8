"""A study on a real Ray cluster of two nodes on this machine (tests/cluster/two_nodes.py): a node-local storage
path is refused; with storage marked shared the trials run on the second node and leave the same store as a
one-node run; when the second node is killed in the middle of a trial, the trial is retried on the head from its
last checkpoint and the study finishes with nothing lost or counted twice."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.cluster.two_nodes import BIN, TwoNodeCluster
from tests.study.ray_fixtures import mini_data, write_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow

TIMING_KEYS = {"train_step_s", "samples_per_s", "peak_mem_bytes", "time", "elapsed_s", "checkpoint", "trial_id",
               "artifact"}                  # paths in the study directory, named by trial


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return mini_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def spread(data, tmp_path_factory):
    """The study of the two-node run, and its one-node run on an embedded Ray (started first, so that it runs
    while the cluster comes up)."""
    root = tmp_path_factory.mktemp("spread")
    study = write_study(root, data, name="spread", seeds=[1], storage_shared=True,
                        search={"algorithm": "grid", "max_concurrent": 1})
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    alone = vlpet(env, root / "one-node", "run", str(study), "--num-cpus", "1", "--storage", str(root / "alone"),
                  "--quiet")
    try:
        yield {"study": study, "root": root, "one_node": alone}
    finally:
        alone.kill()
        alone.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, spread):
    """Head and node 2, one CPU each; the head's CPU is held, so trials start on node 2."""
    root = tmp_path_factory.mktemp("two-nodes")
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    nodes = TwoNodeCluster(root, token)
    try:
        nodes.hold_head()
        yield nodes
    finally:
        nodes.stop()


def vlpet(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """``vlpet ARGS`` in the background, its output in ``log.out`` / ``log.err`` (a pipe nobody reads would
    block it)."""
    process = subprocess.Popen([os.path.join(BIN, "vlpet"), *args], env=env,
                               stdout=open(f"{log}.out", "w"), stderr=open(f"{log}.err", "w"))
    process.log = log
    return process


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    process.wait(timeout=timeout)
    return (process.returncode, Path(f"{process.log}.out").read_text(), Path(f"{process.log}.err").read_text())


def store_files(storage: str) -> list[str]:
    """The study's own store: evaluations, status records, trained adapters (Tune's trial directories are named
    by time)."""
    return [os.path.relpath(os.path.join(d, f), storage) for part in ("results", "trials", "artifacts")
            for d, _, files in os.walk(os.path.join(storage, part)) for f in files]


def by_seed(storage: str) -> dict[tuple[str, int], list[dict]]:
    """Each configuration and seed's evaluations, without the timings and paths that differ between runs."""
    store = StudyStore(storage)
    return {(s["config_key"], s["seed"]): [{k: v for k, v in row.items() if k not in TIMING_KEYS}
                                           for row in store.evaluations(s["trial_id"])]
            for s in store.statuses()}


def test_a_node_local_storage_is_refused_before_anything_is_written(cluster, data, tmp_path):
    study = write_study(tmp_path, data, name="local", seeds=[1])
    storage = tmp_path / "local-store"
    code, _, err = finish(vlpet(cluster.env, tmp_path / "run", "run", str(study), "--address", cluster.gcs,
                                 "--storage", str(storage)),
                          timeout=120)
    assert code == 2, err[-3000:]
    [line] = [line for line in err.splitlines() if "error:" in line]     # besides Ray's "Connecting to" lines
    assert "Traceback" not in err and line.startswith("vlpet run: error: storage ")
    assert "2 alive nodes" in line and "storage_shared: true" in line and "s3://" in line
    assert not storage.exists()


def test_trials_run_on_the_second_node_and_leave_the_store_of_a_one_node_run(cluster, spread):
    shared, alone = str(spread["root"] / "shared"), str(spread["root"] / "alone")
    on_cluster = vlpet(cluster.env, spread["root"] / "cluster", "run", str(spread["study"]), "--address",
                       cluster.gcs, "--storage", shared, "--quiet")
    for process in (on_cluster, spread["one_node"]):
        code, out, err = finish(process)
        assert code == 0, err[-3000:]
    statuses = StudyStore(shared).statuses()
    assert len(statuses) == 2 and {s["status"] for s in statuses} == {"TERMINATED"}
    assert {s["node_id"] for s in statuses} == {cluster.node_ids["node2"]}
    assert {s["status"] for s in StudyStore(alone).statuses()} == {"TERMINATED"}
    assert len(store_files(shared)) == len(store_files(alone)) > 4
    assert by_seed(shared) == by_seed(alone)
    print(f"two-node run: {[(s['sampled']['granularity'], s['seed'], s['node_id'][:8]) for s in statuses]} "
          f"(node 2 is {cluster.node_ids['node2'][:8]}); store files {len(store_files(shared))} on two nodes, "
          f"{len(store_files(alone))} on one")


def test_a_trial_on_a_killed_node_resumes_on_the_head_from_its_checkpoint(cluster, data, tmp_path):
    study = write_study(tmp_path, data, name="nodeloss", seeds=[1], storage_shared=True,
                        search_space={"granularity": {"choice": ["large"]}},
                        trial={"epochs": 3}, search={"algorithm": "grid", "max_concurrent": 1, "max_failures": 2})
    storage = str(tmp_path / "nodeloss")
    store = StudyStore(storage)
    process = vlpet(cluster.env, tmp_path / "run", "run", str(study), "--address", cluster.gcs, "--storage", storage,
                    "--quiet")
    first = _running_with_evaluations(store, process, count=2)
    assert first["node_id"] == cluster.node_ids["node2"]
    cluster.node2.kill()                                   # SIGKILL of node 2's raylet, workers and agents
    killed_at = len(store.evaluations(first["trial_id"]))
    cluster.release_head()                                 # the retry has somewhere to go
    code, _, err = finish(process)
    assert code == 0, err[-3000:]
    [record] = store.statuses()
    rows = store.evaluations(record["trial_id"])
    steps = [row["step"] for row in rows]
    assert record["status"] == "TERMINATED" and record["restarts"] >= 1
    assert record["node_id"] == cluster.node_ids["head"]
    assert 0 < record["resumed_from_step"] <= rows[killed_at - 1]["step"] < rows[-1]["total_steps"]
    assert steps == sorted(set(steps)) and steps[-1] == rows[-1]["total_steps"] and rows[-1]["finished"]
    every = rows[0]["config"]["eval_every_steps"]
    assert steps == list(range(every, steps[-1] + 1, every))          # every evaluation once, none missing
    print(f"node-loss trial: resumed_from_step={record['resumed_from_step']}, steps={steps}")


def _running_with_evaluations(store: StudyStore, process: subprocess.Popen, count: int) -> dict:
    """The only trial's status record once it has recorded ``count`` evaluations (so a checkpoint is stored)."""
    deadline = time.time() + 240
    while True:
        assert process.poll() is None, Path(f"{process.log}.err").read_text()[-3000:]
        assert time.time() < deadline, "the trial recorded no evaluations"
        statuses = store.statuses()
        if statuses and len(store.evaluations(statuses[0]["trial_id"])) >= count:
            return statuses[0]
        time.sleep(0.1)
