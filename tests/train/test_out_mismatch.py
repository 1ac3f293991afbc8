"""`vlpet train --out X` again (issue 18.5): the same configuration resumes its checkpoint; another configuration is
refused with exit 2 and one line listing the differing keys, and `--restart` starts over. A NaN in an evaluation
input stops `vlpet train` with exit 2 and one line naming the feature file."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import pytest
import yaml

from tests.study.ray_fixtures import TINY_TRIAL
from tests.train.fixtures import write_mini_quickstart
from vlpet.cli import main
from vlpet.train.checkpoint import latest_checkpoint, saved_config
from vlpet.train.loop import run_trial
from vlpet.trial_config import TrialConfig


def train(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["train", *argv])
    return status, out.getvalue(), err.getvalue()


def history(out_dir) -> list[dict]:
    with open(os.path.join(out_dir, "metrics.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trial file on the miniature data and a finished two-step run of it in ``out``."""
    root = tmp_path_factory.mktemp("out_mismatch")
    data = write_mini_quickstart(root / "data")
    trial = root / "trial.yaml"
    trial.write_text(yaml.safe_dump({**TINY_TRIAL, "data_dir": str(data), "max_steps": 2, "eval_every_steps": 1,
                                     "test_checkpoint": "none"}))
    status, _, err = train(str(trial), "--out", str(root / "out"), "--json")
    assert status == 0, err
    return {"root": root, "trial": trial, "data": data, "out": root / "out"}


@pytest.fixture
def out(trained, tmp_path):
    """A copy of the finished run, for one test to resume, refuse or restart."""
    copy = tmp_path / "out"
    shutil.copytree(trained["out"], copy)
    return copy


def test_the_same_configuration_resumes_its_finished_run(trained, out):
    before = history(out)
    status, stdout, err = train(str(trained["trial"]), "--out", str(out), "--json")
    assert status == 0, err
    assert json.loads(stdout)["step"] == 2 and history(out) == before       # nothing trained again


def test_the_same_configuration_resumes_an_interrupted_run(trained, tmp_path):
    partial = tmp_path / "partial"
    run_trial(TrialConfig.from_file(trained["trial"]), str(partial), stop_after_steps=1)
    status, stdout, err = train(str(trained["trial"]), "--out", str(partial), "--json")
    assert status == 0, err
    assert [row["step"] for row in history(partial)] == [2] and json.loads(stdout)["step"] == 2


@pytest.mark.parametrize("overrides, changes", [
    (["lr=0.01"], "lr: 0.001 -> 0.01"),
    (["seed=7"], "seed: 42 -> 7"),
    (["bottleneck=16"], "bottleneck: 8 -> 16"),
    (["lr=0.01", "seed=7"], "lr: 0.001 -> 0.01; seed: 42 -> 7"),
])
def test_another_configuration_is_refused_with_the_differing_keys(trained, out, overrides, changes):
    kept = sorted(os.listdir(out / "checkpoints")), history(out)
    status, stdout, err = train(str(trained["trial"]), "--out", str(out), *(f"--set={o}" for o in overrides))
    assert status == 2 and stdout == ""
    assert err.splitlines() == [f"vlpet train: error: --out {out} holds checkpoints of another trial configuration "
                                f"({changes}): add --restart to discard them and start over, or choose another --out"]
    assert (sorted(os.listdir(out / "checkpoints")), history(out)) == kept


def test_another_data_dir_is_refused(trained, out, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(trained["data"], moved)
    status, _, err = train(str(trained["trial"]), "--out", str(out), f"--set=data_dir={moved}")
    assert status == 2 and f'data_dir: "{trained["data"]}" -> "{moved}"' in err and len(err.splitlines()) == 1


def test_restart_discards_the_old_run_and_trains_the_new_configuration(trained, out):
    status, _, err = train(str(trained["trial"]), "--out", str(out), "--set=lr=0.01", "--restart", "--json")
    assert status == 0, err
    assert saved_config(latest_checkpoint(str(out / "checkpoints")))["lr"] == 0.01
    assert [row["step"] for row in history(out)] == [1, 2]          # the old run's history is gone, not appended to
    assert sorted(os.listdir(out)) == ["checkpoints", "metrics.jsonl"]   # nothing half-deleted left behind


def test_a_nan_in_evaluation_features_exits_2_naming_the_file(trained, tmp_path):
    data = write_mini_quickstart(tmp_path / "nan_val", nan_images=(19,))
    status, _, err = train(str(trained["trial"]), "--out", str(tmp_path / "out"), f"--set=data_dir={data}", "--json")
    path = next(data.rglob("easyvqa_test_00019.h5"))
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"vlpet train: error: feature file {path}: image easyvqa_test_00019 has a non-finite "
                          f"value (NaN or inf) in feature row 0; it is an evaluation input (quickstart val split, ")
