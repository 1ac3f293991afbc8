"""Hostile inputs (issue 8): every malformed study and trial file under hostile/ is refused with one line that
names the problem, exit status 2, within seconds, and before any Ray process starts.

Each corpus file starts with ``# hostile: what is wrong`` and ``# expect: a fragment of the error``. Every file
goes through the CLI in-process (``vlpet validate`` and ``vlpet run --smoke`` for studies; ``vlpet train`` and an
arm of a study for trials) with Ray and training replaced by tripwires; a handful also go through real
``vlpet`` processes with a private RAY_TMPDIR, to check the exit status, stderr and that no Ray session appears.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
import pytest

from vlpet.cli import main
from vlpet.trial_config import TrialConfig

CORPUS = Path(__file__).parent / "hostile"
STUDIES = sorted((CORPUS / "studies").glob("*.yaml"))
TRIALS = sorted((CORPUS / "trials").glob("*.yaml"))
VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
FAST_S = 5.0
ARM_DROPS = {"negative_seed"}          # an arm's seed is replaced by the study's seeds, so it cannot be hostile there


def header(path: Path, key: str) -> str:
    """The ``# key: ...`` line at the top of a corpus file (files may hold binary garbage after it)."""
    head = path.read_bytes()[:500].decode("utf-8", "replace")
    return re.search(rf"^# {key}: (.*)$", head, re.MULTILINE).group(1).strip()


def test_the_corpus_is_large_and_every_file_says_what_is_wrong():
    assert len(STUDIES) + len(TRIALS) >= 30 and len(STUDIES) >= 25 and len(TRIALS) >= 15
    for path in STUDIES + TRIALS:
        assert header(path, "hostile") and header(path, "expect")


@pytest.fixture
def tripwires(monkeypatch):
    """Starting a study or training a trial fails the test: validation must refuse the input first."""
    def refuse(*args, **kwargs):
        raise AssertionError("validation let a hostile input through to Ray or training")

    runner = types.ModuleType("vlpet.study.runner")
    runner.run_study = runner.resume_study = runner.connect_ray = refuse
    monkeypatch.setitem(sys.modules, "vlpet.study.runner", runner)
    # `from vlpet.study import runner` reads the package's attribute first, once the real module was imported
    import vlpet.study

    monkeypatch.setattr(vlpet.study, "runner", runner, raising=False)
    import vlpet.train.loop

    monkeypatch.setattr(vlpet.train.loop, "run_trial", refuse)


def refused(argv: list[str], capsys) -> str:
    """Run the CLI in-process; assert exit 2 within FAST_S and one line on stderr; return that line."""
    started = time.perf_counter()
    status = main(argv)
    elapsed = time.perf_counter() - started
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2 and len(lines) == 1, (status, captured.err[:2000])
    assert lines[0].startswith(f"vlpet {argv[0]}: error: ") and elapsed < FAST_S, (lines[0], elapsed)
    return lines[0]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_hostile_study_is_refused_by_validate_and_run(path, capsys, tripwires):
    expect = header(path, "expect")
    assert expect in refused(["validate", str(path)], capsys)
    assert expect in refused(["run", "--smoke", "--quiet", str(path)], capsys)


@pytest.mark.parametrize("path", TRIALS, ids=lambda p: p.stem)
def test_hostile_trial_is_refused_by_train_and_as_a_study_arm(path, capsys, tripwires, tmp_path):
    expect = header(path, "expect")
    out = tmp_path / "out"
    assert expect in refused(["train", str(path), "--out", str(out)], capsys)
    assert not out.exists()
    if path.stem in ARM_DROPS:
        return
    shutil.copyfile(path, tmp_path / "trial.yaml")
    study = tmp_path / "study.yaml"
    study.write_text("name: wrapped\narms: [{name: hostile, file: trial.yaml}]\nsearch: {algorithm: grid}\n"
                     "scheduler: {type: none}\n")
    assert expect in refused(["validate", str(study)], capsys)


def test_the_corpus_controls_validate(capsys):
    """The study and trial the corpus files are mutations of are valid: each file's fault is its only one."""
    here = Path(__file__).parent
    assert main(["validate", str(here / "control_study.yaml")]) == 0 and "OK" in capsys.readouterr().out
    assert TrialConfig.from_file(here / "control_trial.yaml").backbone == "tiny-bart"


def test_the_tripwires_catch_a_valid_study(capsys, tripwires):
    with pytest.raises(AssertionError, match="through to Ray"):
        main(["run", "--smoke", str(Path(__file__).parent / "control_study.yaml")])


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path, capsys, tripwires):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ndescription: >\n" + ("  all work and no play makes a huge study file\n" * 25_000))
    assert path.stat().st_size > 1 << 20
    assert "is too large" in refused(["validate", str(path)], capsys)


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["run", "--smoke", "search_spaces/quickstart.yaml", "--storage", "/etc/vlpet"], "--storage: '/etc/vlpet'"),
        (["run", "--smoke", "search_spaces/quickstart.yaml", "--storage", "../../outside"], "climbs out"),
        (["run", "--smoke", "search_spaces/quickstart.yaml", "--storage", "~"], "a shared directory"),
        (["train", "search_spaces/trials/quickstart.yaml", "--out", "../../etc"], "--out: '../../etc' climbs out"),
        (["train", "search_spaces/trials/quickstart.yaml", "--out", "/proc/self"], "inside the system directory /proc"),
        (["train", "search_spaces/trials/quickstart.yaml", "--set", "lr=.nan"], "lr: expected a finite number"),
        (["submit", "search_spaces/quickstart.yaml", "--storage", "/usr/share/x"], "inside the system directory /usr"),
    ],
)
def test_hostile_arguments_are_refused(argv, expect, capsys, tripwires):
    assert expect in refused(argv, capsys)


def test_a_study_sent_through_the_environment_is_bounded_too(monkeypatch, capsys, tripwires):
    monkeypatch.setenv("VLPET_HOSTILE_STUDY", (CORPUS / "studies" / "billion_laughs.yaml").read_text())
    assert "a YAML bomb" in refused(["run", "sent.yaml", "--study-from-env", "VLPET_HOSTILE_STUDY"], capsys)


def test_validate_cluster_skips_only_the_local_data_check(capsys):
    path = str(CORPUS / "studies" / "missing_data_dir.yaml")
    assert main(["validate", "--cluster", path]) == 0 and "OK" in capsys.readouterr().out


SUBPROCESS_CASES = [
    ("validate", "studies/billion_laughs.yaml"),
    ("run", "studies/storage_traversal.yaml"),
    ("run", "studies/missing_data_dir.yaml"),
    ("train", "trials/huge_lora_rank.yaml"),
]


def test_real_processes_exit_2_with_one_line_and_start_no_ray(tmp_path):
    """The cases above as real ``vlpet`` processes, side by side: exit 2, one stderr line naming the problem,
    no Ray session under their private RAY_TMPDIR and no Ray process pointing at it."""
    ray_tmp = tmp_path / "ray"
    ray_tmp.mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "RAY_ADDRESS": ""}
    started = time.perf_counter()
    processes = []
    for command, name in SUBPROCESS_CASES:
        argv = [VLPET, command, str(CORPUS / name)] + {"run": ["--smoke", "--quiet"], "validate": [],
                                                        "train": ["--out", str(tmp_path / "out")]}[command]
        processes.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    for (command, name), process in zip(SUBPROCESS_CASES, processes):
        _, err = process.communicate(timeout=120)
        lines = err.splitlines()
        assert process.returncode == 2 and len(lines) == 1, (name, process.returncode, err[-2000:])
        assert lines[0].startswith(f"vlpet {command}: error: ") and header(CORPUS / name, "expect") in lines[0]
    assert time.perf_counter() - started < 90          # four interpreters importing torch on two busy cores
    assert list(ray_tmp.iterdir()) == []
    assert not [p.info for p in psutil.process_iter(["name", "cmdline"])
                if str(ray_tmp) in " ".join(p.info["cmdline"] or [])]
