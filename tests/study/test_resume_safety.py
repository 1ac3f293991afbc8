"""`vlpet resume` from vlpet's own store (issue 18.1–18.2), on one real study whose driver was killed mid-study:
planted pickles never run, truncated Tune state does not make finished seeds run again, a copied and a moved
study resume into their own directories and Optuna databases, a second writer is refused, and a study whose
driver died before any trial started resumes instead of reaching a dead end."""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

from tests.study.ray_fixtures import kill_mid_study, write_study
from vlpet.cli import main
from vlpet.study.lock import LOCK_FILE, StudyLock
from vlpet.study.recovery import recovery_plan
from vlpet.study.runner import _record_new_study, resume_study, saved_study
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def killed(tmp_path_factory, data):
    """A TPE study of two configurations x two seeds whose driver was killed (SIGKILL, with its Ray) once one
    seed had finished and another had stored a checkpoint."""
    root = tmp_path_factory.mktemp("killed")
    path = write_study(root, data, name="killed", seeds=[1, 2],
                       search_space={"granularity": {"choice": ["small", "large"]}},
                       search={"algorithm": "tpe", "num_samples": 2, "max_concurrent": 1},
                       objectives={"metric": "max", "trainable_pct": "min"},
                       trial={"epochs": 6, "eval_every_steps": 6})
    study_dir = str(root / "killed")
    store = StudyStore(study_dir)
    statuses = kill_mid_study([str(path), "--num-cpus", "2", "--quiet"], store, 300,
                              "a finished seed and a checkpointed one")
    return {"dir": study_dir, "done": statuses["TERMINATED"], "cut": statuses["RUNNING"],
            "done_rows": store.evaluations(statuses["TERMINATED"]["trial_id"])}


def _copy(killed, target: Path) -> str:
    shutil.copytree(killed["dir"], target, symlinks=True)
    (target / LOCK_FILE).unlink(missing_ok=True)        # the killed driver's lock: its pid is gone anyway
    return str(target)


def _assert_complete(study_dir: str, killed) -> list[dict]:
    store = StudyStore(study_dir)
    final = store.statuses()
    assert Counter(s["status"] for s in final) == Counter({"TERMINATED": 4}), final
    assert Counter((s["config_key"], s["seed"]) for s in final).most_common(1)[0][1] == 1   # no seed twice
    done = store.status(killed["done"]["trial_id"])
    assert done["restarts"] == 0 and store.evaluations(done["trial_id"]) == killed["done_rows"]
    cut = store.status(killed["cut"]["trial_id"])              # continued under its own id, from its checkpoint
    assert cut["restarts"] == 1 and cut["resumed_from_step"] >= 6 and len(cut["tune_trials"]) == 2
    return final


class Payload:
    """What an attacker plants: unpickling it creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_planted_pickles_and_truncated_tune_state_neither_run_nor_rerun_finished_seeds(ray_session, killed, tmp_path):
    study_dir = _copy(killed, tmp_path / "hostile")
    marker = tmp_path / "pwned"
    tune = Path(study_dir) / "tune"
    planted = [tune / "tuner.pkl", *tune.glob("*.pkl"), *tune.glob("*/*.pkl")]
    for path in planted:
        path.write_bytes(pickle.dumps(Payload(marker)))
    for path in [*tune.glob("*.json"), *tune.glob("*/*.json")]:     # Tune's experiment and trial state, cut short
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert len(planted) >= 3
    resume_study(study_dir, verbose=0)
    assert not marker.exists()
    _assert_complete(study_dir, killed)


def test_a_copied_then_moved_study_resumes_into_its_own_directory_and_optuna_database(ray_session, killed, tmp_path):
    original = Path(killed["dir"])
    before = {p: p.stat().st_mtime_ns for p in original.rglob("*") if p.is_file()}
    record = StudyStore(killed["dir"]).read_study()
    trials_before = len(optuna.load_study(study_name=record.optuna_study_name,
                                          storage=f"sqlite:///{original}/optuna.db").trials)
    copied = _copy(killed, tmp_path / "copy")
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(copied, moved)
    resume_study(str(moved), verbose=0)
    _assert_complete(str(moved), killed)
    assert {p: p.stat().st_mtime_ns for p in original.rglob("*") if p.is_file()} == before   # untouched
    study = optuna.load_study(study_name=record.optuna_study_name, storage=f"sqlite:///{moved}/optuna.db")
    states = Counter(t.state.name for t in study.trials)
    # The configuration that was running when the driver died went back to the queue (its old trial is FAIL);
    # both configurations end COMPLETE with their seed means (TPE may draw one again: answered from its mean).
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert states["FAIL"] == 1 and len(study.trials) > trials_before
    assert {t.params["granularity"] for t in complete} == {"small", "large"} and all(len(t.values) == 2 for t in complete)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(killed, tmp_path, capsys):
    study_dir = _copy(killed, tmp_path / "locked")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (Path(study_dir) / LOCK_FILE).write_text(
            f'{{"host": "{socket.gethostname()}", "pid": {holder.pid}, "command": "run", "since": 0}}')
        assert main(["resume", study_dir, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {holder.pid}" in err[0] and "one writer per study" in err[0]
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: the lock is stale and the next writer takes it over with a warning.
    with StudyLock(study_dir, "resume") as lock:
        assert lock.holder()["pid"] == os.getpid()
        assert "stale lock" in capsys.readouterr().err
        with pytest.raises(Exception, match="one writer per study"):
            StudyLock(study_dir, "run").acquire()
    assert not (Path(study_dir) / LOCK_FILE).exists()


def test_a_study_whose_driver_died_before_any_trial_resumes_from_its_study_file(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="early", seeds=[1], search_space={"granularity": {"choice": ["large"]}},
                       search={"algorithm": "grid", "max_concurrent": 1})
    spec = load_study(path)
    study_dir = spec.storage
    _record_new_study(spec, study_dir)                          # what the driver had written when it died
    assert not recovery_plan(saved_study(study_dir), study_dir).open
    outcome = resume_study(study_dir, verbose=0)
    assert [s["status"] for s in outcome.trials] == ["TERMINATED"]
