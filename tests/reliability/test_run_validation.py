"""Validation that knows the run (issue 18.6): objectives are metrics trials report, resources fit the machine an
embedded Ray runs on, a trial's data exists, before Ray starts. Through the real CLI (``vlpet validate`` in
process, ``vlpet run`` as a real process); the reported-metric list is checked against a real trial's report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.study.ray_fixtures import TINY_TRIAL
from tests.train.fixtures import write_mini_quickstart
from vlpet.cli import main
from vlpet.study import trainable
from vlpet.study.reported import GENERIC, reported_metrics
from vlpet.study.spec import TRIAL_DRIVER_CPU, local_gpus
from vlpet.trial_config import TrialConfig

VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
CONTROL = yaml.safe_load((Path(__file__).parent / "control_study.yaml").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_mini_quickstart(tmp_path_factory.mktemp("data") / "mini", n_images=8)


def study(tmp_path: Path, **changes) -> str:
    body = {**CONTROL, "storage": str(tmp_path / "study"), **changes}
    body["trial"] = {**CONTROL["trial"], **changes.get("trial", {})}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def validate(path: str, capsys, *flags: str) -> tuple[int, str]:
    status = main(["validate", *flags, path])
    captured = capsys.readouterr()
    return status, captured.err.strip() if status else captured.out


def refused(path: str, capsys, *flags: str) -> str:
    status, err = validate(path, capsys, *flags)
    assert status == 2 and len(err.splitlines()) == 1, (status, err)
    return err


@pytest.mark.parametrize("objectives, scheduler, where", [
    ({"acc": "max"}, None, "objectives.acc"),
    ({"metric": "max", "test_vqa_acc": "max"}, None, "objectives.test_vqa_acc"),
    ({"metric_name": "max"}, None, "objectives.metric_name"),
    ({"metric": "max"}, {"type": "asha", "metric": "accuracy"}, "scheduler.metric"),
])
def test_an_objective_no_trial_reports_is_refused_with_what_trials_report(objectives, scheduler, where, tmp_path,
                                                                         capsys):
    changes = {"objectives": objectives, **({"scheduler": scheduler} if scheduler else {})}
    err = refused(study(tmp_path, **changes), capsys, "--cluster")
    assert f"{where}: no trial reports" in err and "vqa_acc" in err and "trainable_pct" in err, err


@pytest.mark.parametrize("objectives", [{"vqa_acc": "max", "trainable_params": "min"},
                                        {"vqa_acc_other": "max", "peak_mem_bytes": "min"}])
def test_reported_objectives_validate(objectives, tmp_path, capsys):
    assert validate(study(tmp_path, objectives=objectives), capsys, "--cluster")[0] == 0


def test_the_reported_list_is_what_a_real_trial_reports(data, tmp_path):
    """A real trial (no Ray) on the miniature data: every always-reported name is in its evaluation; the worker
    adds total_steps."""
    from vlpet.train.loop import run_trial

    config = TrialConfig.from_dict({**TINY_TRIAL, "data_dir": str(data), "epochs": 1, "eval_every_steps": None,
                                    "max_steps": 2, "test_checkpoint": "none"})
    reports = []
    run_trial(config, str(tmp_path / "out"), report=lambda metrics, _: reports.append(metrics))
    numeric = {k for k, v in reports[-1].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    names, prefixes = reported_metrics(config)
    assert names - {"total_steps"} <= numeric, names - numeric
    assert {k for k in numeric if k.startswith(prefixes)} == {"vqa_acc_other", "vqa_label_acc"}


def test_the_driver_share_matches_the_trainable():
    assert TRIAL_DRIVER_CPU == trainable.DRIVER_CPU and "total_steps" in GENERIC


def test_zero_cpus_per_worker_is_refused(tmp_path, capsys):
    err = refused(study(tmp_path, resources={"cpus_per_worker": 0}), capsys, "--cluster")
    assert "resources.cpus_per_worker: must be above 0" in err


def test_more_cpus_than_this_machine_is_refused_here_but_not_for_a_cluster(tmp_path, capsys):
    path = study(tmp_path, resources={"workers": 2, "cpus_per_worker": os.cpu_count()})
    err = refused(path, capsys)
    assert f"more than the {os.cpu_count()} the embedded Ray has" in err
    assert validate(path, capsys, "--cluster")[0] == 0


@pytest.mark.skipif(local_gpus() > 0, reason="this machine has a GPU")
def test_a_gpu_on_a_machine_without_one_exits_2_from_run_without_starting_ray(tmp_path):
    path = study(tmp_path, resources={"gpus_per_worker": 1})
    env = {**os.environ, "RAY_TMPDIR": str(tmp_path / "ray")}
    done = subprocess.run([VLPET, "run", "--smoke", "--quiet", path], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "one trial needs 1 GPUs" in done.stderr and "this machine has 0" in done.stderr
    assert not (tmp_path / "ray").exists() and not (tmp_path / "study-smoke").exists()


def test_data_dir_none_for_a_task_without_a_default_location_is_refused(tmp_path, capsys):
    err = refused(study(tmp_path, trial={"task": "vqa", "data_dir": None}), capsys, "--cluster")
    assert "data_dir: task 'vqa' has no default location" in err


def test_a_data_dir_without_the_tasks_files_is_refused(data, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    err = refused(study(tmp_path, trial={"task": "gqa", "data_dir": str(empty)}), capsys)
    assert "has no GQA for task 'gqa'" in err
    assert validate(study(tmp_path, trial={"data_dir": str(data)}), capsys)[0] == 0
