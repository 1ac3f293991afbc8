"""Hostile study directories (issue 18): one real study, trained once per module on a local Ray with arms whose
names are hostile to plots and pages (``$^$``, ``<i>a&b_c|d``), is copied per case of hostile_dirs/cases.yaml,
the copy damaged as the case says, and ``vlpet export``, ``vlpet pareto`` and ``vlpet report`` run on it through
the CLI: exit 0 with one warning line naming the damaged file (listed in the report page too), or exit 2 with one
error line; never a traceback. Two cases also run as real ``vlpet`` processes to check their whole stderr."""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.study.ray_fixtures import mini_data, start_local_ray, write_study
from vlpet.cli import main

pytestmark = pytest.mark.slow

CASES = yaml.safe_load((Path(__file__).parent / "hostile_dirs" / "cases.yaml").read_text())["cases"]
COMMANDS = ("export", "pareto", "report")
DAMAGES = {"truncate", "text", "hex", "drop", "set", "pad"}
ARMS = ("$^$", "<i>a&b_c|d")
KEEP = ("study.json", "trials", "results")      # what the readers read: the copy leaves checkpoints and tune/ out
VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A finished real study: two arms with hostile names, one seed, three evaluations per trial."""
    root = tmp_path_factory.mktemp("hostile_dirs")
    data = mini_data(root)
    path = write_study(root, data, name="labels", search_space={}, seeds=[1], trial={"epochs": 1},
                       arms=[{"name": ARMS[0], "trial": {"granularity": "small"}},
                             {"name": ARMS[1], "trial": {"granularity": "large"}}])
    ray = start_local_ray()
    try:
        assert main(["run", str(path), "--quiet"]) == 0      # its end-of-study report renders the hostile labels
    finally:
        ray.shutdown()
    return root / "labels"


def test_every_case_says_what_it_damages_and_what_must_happen():
    assert len(CASES) >= 30 and len({case["name"] for case in CASES}) == len(CASES)
    for case in CASES:
        assert case["file"] and len(case["damage"]) == 1 and set(case["damage"]) <= DAMAGES, case["name"]
        for expect in (case["expect"], case.get("report", case["expect"])):
            assert (expect["exit"], bool(expect.get("warning")), bool(expect.get("error"))) in (
                (0, True, False), (2, False, True)), case["name"]


def test_the_study_ran_and_reported_its_hostile_arm_names(study):
    page = (study / "report" / "report.html").read_text(encoding="utf-8")
    assert {"pareto.png", "curves.png", "ablation.md"} <= set(os.listdir(study / "report"))
    assert "$^$" in page and "&lt;i&gt;a&amp;b_c|d" in page and "<i>a&b" not in page
    assert "&lt;i&gt;a&amp;b_c\\|d" in (study / "report" / "ablation.md").read_text(encoding="utf-8")
    plotly = (study / "report" / "pareto.html").read_text(encoding="utf-8")
    assert "&#36;^&#36;" in plotly and "&lt;i&gt;a&amp;b_c|d" in plotly


def damaged_copy(study: Path, case: dict, where: Path) -> tuple[Path, list[str]]:
    """A copy of the study's store with the case's damage done; the damaged files' paths in the copy."""
    copy = where / "study"
    copy.mkdir()
    for name in KEEP:
        source = study / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    trial_id = sorted(p.name for p in (copy / "results").iterdir())[0]
    last_eval = sorted((copy / "results" / trial_id).glob("eval_*.json"))[-1]
    pattern = case["file"].format(eval=f"results/{trial_id}/{last_eval.name}", trial=f"trials/{trial_id}.json",
                                  trial_id=trial_id)
    paths = sorted(glob.glob(str(copy / pattern))) if "*" in pattern else [str(copy / pattern)]
    assert paths, pattern
    for path in paths:
        damage(Path(path), case["damage"])
    return copy, paths


def damage(path: Path, how: dict) -> None:
    (kind, value), = how.items()
    if kind in ("drop", "set"):
        payload = json.loads(path.read_text())
        payload.pop(value) if kind == "drop" else payload.update(value)
        path.write_text(json.dumps(payload))
    elif kind == "truncate":
        path.write_bytes(path.read_bytes()[:value])
    elif kind == "pad":
        path.write_bytes(path.read_bytes() + b" " * value)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.encode() if kind == "text" else bytes.fromhex(value))


def argv(command: str, copy: Path) -> list[str]:
    return [command, str(copy), *(["--out", str(copy.parent / "pareto.png")] if command == "pareto" else [])]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_a_damaged_store_is_reported_not_crashed_on(study, case, command, tmp_path, capsys, caplog):
    expect = case.get(command, case["expect"])
    copy, damaged = damaged_copy(study, case, tmp_path)
    caplog.set_level(logging.WARNING, logger="vlpet.store")
    code = main(argv(command, copy))                     # a traceback would fail the test here
    err = capsys.readouterr().err
    warnings = [record.getMessage() for record in caplog.records if record.name == "vlpet.store"]
    assert code == expect["exit"], (err, warnings)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith(f"vlpet {command}: error: ") and expect["error"] in err
        return
    for path in damaged:
        (line,) = [w for w in warnings if w.startswith(f"warning: skipped {path}: ")]
        assert expect["warning"] in line and "\n" not in line
    if command == "report":
        page = (copy / "report" / "report.html").read_text(encoding="utf-8")
        assert "Skipped files" in page and all(os.path.relpath(p, copy) in page for p in damaged)


@pytest.mark.parametrize("name, command, reason", [("truncated_evaluation", "report", "truncated JSON"),
                                                    ("every_evaluation_empty", "export", "empty file")])
def test_a_real_vlpet_process_prints_one_line_per_problem_and_no_traceback(study, tmp_path, name, command, reason):
    case = next(c for c in CASES if c["name"] == name)
    copy, damaged = damaged_copy(study, case, tmp_path)
    done = subprocess.run([VLPET, *argv(command, copy)], capture_output=True, text=True, timeout=120)
    expect = case.get(command, case["expect"])
    assert done.returncode == expect["exit"] and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    warnings = lines if done.returncode == 0 else lines[:-1]
    assert warnings == [f"warning: skipped {path}: {reason}" for path in damaged]
    if done.returncode == 2:
        assert lines[-1].startswith(f"vlpet {command}: error: ") and expect["error"] in lines[-1]
