"""Honest exit statuses of `vlpet run` (issue 18.5) on one real local Ray: a study whose trials fail exits 1 with a
summary naming each failed trial, its configuration and its first error line, and still writes its report; a
NaN in an evaluation input fails its trial with an error naming the feature file."""

from __future__ import annotations

import os

import pytest

from tests.study.ray_fixtures import mini_data, start_local_ray, write_study
from tests.train.fixtures import write_mini_quickstart
from vlpet.cli import main
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow
POISONED = 20          # a held-out image (validation and test split of the miniature): NaN features


@pytest.fixture(scope="module")
def ray_session():
    ray = start_local_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("outcomes")
    return {"clean": mini_data(root), "nan_val": write_mini_quickstart(root / "nan_val", nan_images=(POISONED,))}


@pytest.fixture(scope="module")
def mixed(ray_session, data, tmp_path_factory):
    """One study, two configurations: clean data, and data whose evaluation features hold a NaN."""
    root = tmp_path_factory.mktemp("mixed")
    path = write_study(root, data["clean"], name="mixed", seeds=[1], trial={"epochs": 1},
                       search_space={"data_dir": {"choice": [str(data["clean"]), str(data["nan_val"])]}})
    return run(path), root / "mixed"


def run(path):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["run", str(path), "--quiet"])
    return status, out.getvalue(), err.getvalue()


def test_a_study_with_a_failed_configuration_exits_1_naming_it_and_its_error(mixed, data):
    (status, out, err), study_dir = mixed
    assert status == 1, err
    records = {r["sampled"]["data_dir"]: r for r in StudyStore(study_dir).statuses()}
    failed, fine = records[str(data["nan_val"])], records[str(data["clean"])]
    assert failed["status"] == "ERROR" and fine["status"] == "TERMINATED"
    lines = err.strip().splitlines()
    assert lines[0] == "study failed: 1 of 2 trials failed, in 1 of 2 configurations:"
    assert len(lines) == 2 and lines[1].startswith(f"  trial {failed['trial_id']} (configuration "
                                                   f"{failed['config_key']}: data_dir={data['nan_val']}; seed 1): ")
    assert "DataError: feature file " in lines[1] and f"easyvqa_test_{POISONED:05d}.h5" in lines[1]
    assert "Traceback" not in err


def test_the_report_is_still_written_when_trials_failed(mixed):
    (status, out, _), study_dir = mixed
    assert "study finished" in out and "1 ERROR" in out and "1 TERMINATED" in out
    assert os.path.isfile(study_dir / "report" / "report.html")


def test_a_nan_in_evaluation_features_fails_the_trial_naming_file_image_and_row(mixed, data):
    _, study_dir = mixed
    (failed,) = [r for r in StudyStore(study_dir).statuses() if r["status"] == "ERROR"]
    path = next(data["nan_val"].rglob(f"easyvqa_test_{POISONED:05d}.h5"))
    assert failed["error"].startswith(f"DataError: feature file {path}: image easyvqa_test_{POISONED:05d} has a "
                                      f"non-finite value (NaN or inf) in feature row 0; it is an evaluation input "
                                      f"(quickstart val split, example ")
    assert not StudyStore(study_dir).evaluations(failed["trial_id"])      # no evaluation scored 0 was recorded


def test_a_study_whose_every_trial_failed_exits_1(ray_session, data, tmp_path):
    path = write_study(tmp_path, data["nan_val"], name="doomed", seeds=[1, 2], trial={"epochs": 1},
                       search_space={"granularity": {"choice": ["small"]}})
    status, out, err = run(path)
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[0] == "study failed: every trial failed, in 1 of 1 configurations:" and len(lines) == 3
    assert all("DataError: feature file " in line for line in lines[1:])
    assert {line.split("; seed ")[1][0] for line in lines[1:]} == {"1", "2"}
    assert os.path.isfile(tmp_path / "doomed" / "report" / "report.html")

