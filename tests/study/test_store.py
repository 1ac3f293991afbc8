"""The study directory's vocabulary: trial statuses and their transitions, study.json, the URI test."""

from __future__ import annotations

import json

import pytest

from vlpet.study.store import DEFAULT_OBJECTIVES, StudyRecord, StudyStore, TrialStatus, is_uri


def read(path) -> dict:
    return json.loads(path.read_text())


def test_statuses_on_disk_keep_their_strings():
    assert [s.value for s in TrialStatus] == ["PENDING", "RUNNING", "TERMINATED", "STOPPED", "ERROR"]
    assert [s for s in TrialStatus if s.ended] == [TrialStatus.TERMINATED, TrialStatus.STOPPED, TrialStatus.ERROR]


def test_a_restarted_trial_keeps_its_first_start_and_counts_restarts(tmp_path):
    store = StudyStore(tmp_path)
    first = store.mark_running("t1", seed=1, config={"lr": 0.1})
    store.mark_failed("t1", "TrainingDiverged: nan")
    again = store.mark_running("t1", seed=1)
    record = read(tmp_path / "trials" / "t1.json")
    assert record["status"] == "RUNNING" and record["error"] is None and record["config"] == {"lr": 0.1}
    assert again["started"] == first["started"] == record["started"]
    assert (first["restarts"], record["restarts"]) == (0, 1)


@pytest.mark.parametrize("transition, status, error", [
    (lambda store: store.mark_finished("t1"), "TERMINATED", None),
    (lambda store: store.mark_stopped("t1"), "STOPPED", None),
    (lambda store: store.mark_stopped("t1", "interrupted"), "STOPPED", "interrupted"),
    (lambda store: store.mark_failed("t1", "DataError: no images"), "ERROR", "DataError: no images"),
])
def test_each_ending_records_its_status_and_time(tmp_path, transition, status, error):
    store = StudyStore(tmp_path)
    store.mark_running("t1", seed=3)
    transition(store)
    record = read(tmp_path / "trials" / "t1.json")
    assert record["status"] == status and record["error"] == error and record["ended"] >= record["started"]
    assert record["seed"] == 3 and store.status_of("t1") is TrialStatus(status)


def test_annotate_adds_details_and_never_changes_the_status(tmp_path):
    store = StudyStore(tmp_path)
    store.mark_running("t1")
    store.annotate("t1", pid=123, startup_s=1.5)
    assert store.status("t1")["pid"] == 123 and store.status_of("t1") is TrialStatus.RUNNING
    with pytest.raises(ValueError, match="mark_running"):
        store.annotate("t1", status="TERMINATED")
    assert store.status_of("missing") is None


def test_records_with_unknown_statuses_are_refused(tmp_path):
    with pytest.raises(ValueError, match="status must be one of"):
        StudyStore(tmp_path).write_status("t1", {"status": "DONE"})


def test_study_json_round_trips_with_the_same_keys(tmp_path):
    store = StudyStore(tmp_path)
    assert store.read_study() is None and not store.holds_study()
    record = StudyRecord(name="s", objectives={"metric": "max"}, smoke=True, source={"name": "s"},
                         optuna_study_name="s-1", seeds=(1, 2), created=5.0)
    store.write_study(record)
    assert read(tmp_path / "study.json") == {"name": "s", "objectives": {"metric": "max"}, "smoke": True,
                                             "source": {"name": "s"}, "optuna_study_name": "s-1", "seeds": [1, 2],
                                             "created": 5.0}
    assert store.read_study() == record and store.holds_study()


def test_a_partial_study_json_reads_with_defaults(tmp_path):
    # Hand-made or older directories may hold only some keys; the name falls back to the directory's.
    directory = tmp_path / "by-hand"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"objectives": None}))
    record = StudyStore(directory).read_study()
    assert record.name == "by-hand" and record.objectives == dict(DEFAULT_OBJECTIVES)
    assert record.source == {} and record.seeds == () and not record.smoke


def test_a_directory_with_only_trial_records_holds_a_study(tmp_path):
    store = StudyStore(tmp_path)
    store.mark_running("t1")
    assert store.holds_study() and store.read_study() is None


@pytest.mark.parametrize("location, expected", [
    ("s3://bucket/study", True), ("file:///tmp/study", True), ("http://127.0.0.1:8265", True),
    ("runs/study", False), ("/abs/study", False), ("127.0.0.1:8265", False)])
def test_one_uri_test(location, expected):
    assert is_uri(location) is expected
