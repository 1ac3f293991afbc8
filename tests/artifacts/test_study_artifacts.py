"""Durable trial artifacts in a real study (issue 17): a study whose driver was killed mid-trial and then resumed
keeps an artifact for every finished trial (the cut trial's included, written when it finished after the resume),
recorded in the results frame; `vlpet adapter export --best` writes a model card whose numbers are the frame's."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.study.ray_fixtures import kill_mid_study, mini_data, write_study
from vlpet.analysis.compare import mean_interval
from vlpet.analysis.results import finished, load_results
from vlpet.cli import main
from vlpet.study.recovery import latest_checkpoint
from vlpet.study.store import StudyStore
from vlpet.train.checkpoint import checkpoint_step

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Two configurations x two seeds; the driver is SIGKILLed once a seed finished and another checkpointed,
    then `vlpet resume` finishes the study."""
    root = tmp_path_factory.mktemp("artifacts")
    path = write_study(root, mini_data(root), name="kept", search={"algorithm": "grid", "max_concurrent": 1},
                       trial={"epochs": 2, "eval_every_steps": 4})
    study_dir, store = str(root / "kept"), StudyStore(str(root / "kept"))
    statuses = kill_mid_study([str(path), "--num-cpus", "2", "--quiet"], store, 600,
                              "a finished seed and a checkpointed one")
    cut = statuses["RUNNING"]["trial_id"]
    assert store.status(cut).get("artifact") is None          # killed before its end: nothing kept yet
    started = time.time()
    subprocess.run([sys.executable, "-m", "vlpet.cli", "resume", study_dir, "--num-cpus", "2", "--quiet"],
                   check=True, timeout=900, stdout=subprocess.DEVNULL)
    return {"dir": study_dir, "cut": cut, "done": statuses["TERMINATED"]["trial_id"], "resume_s": time.time() - started}


def test_every_finished_trial_keeps_its_tested_weights_across_the_kill_and_resume(resumed):
    frame = load_results(resumed["dir"])
    store = StudyStore(resumed["dir"])
    assert len(frame) == 4 and frame["finished"].all()
    compared = 0
    for row in frame.itertuples():
        assert row.artifact == f"{resumed['dir']}/artifacts/{row.trial_id}"
        manifest = json.loads(open(f"{row.artifact}/manifest.json").read())
        last = store.evaluations(row.trial_id)[-1]
        assert manifest["step"] == last["step"] == manifest["tested_step"] and last["artifact"] == row.artifact
        kept = load_file(f"{row.artifact}/pet.safetensors")
        # Tune's newest copy under the trial's first Tune id (a cut trial's copy there predates its resume)
        tune_checkpoint = latest_checkpoint(store, [row.trial_id])
        if tune_checkpoint is not None and checkpoint_step(tune_checkpoint) == manifest["step"]:
            final = load_file(f"{tune_checkpoint}/pet.safetensors")
            assert kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in kept)
            compared += 1
    assert compared >= 1
    assert resumed["cut"] in set(frame["trial_id"])


def test_export_best_writes_a_model_card_with_the_frames_numbers(resumed, tmp_path, capsys):
    out = tmp_path / "best"
    assert main(["adapter", "export", resumed["dir"], "--best", "--out", str(out)]) == 0
    described = json.loads((out / "vlpet_adapter.json").read_text())
    found = described["evidence"]
    frame = finished(load_results(resumed["dir"]))
    seeds = frame[frame["config_key"] == found["config_key"]]
    best_key = frame.groupby("config_key")["metric"].mean().idxmax()
    assert found["config_key"] == best_key
    for column in ("metric", "test_metric"):
        low, high = mean_interval(seeds[column])
        assert found["metrics"][column]["mean"] == pytest.approx(seeds[column].mean())
        assert found["metrics"][column]["ci95"] == pytest.approx([low, high])
    assert found["cpu_hours"] == pytest.approx(seeds["cpu_hours"].sum())
    assert found["runner_up"]["n"] == 2
    card = (out / "README.md").read_text()
    assert f"{seeds['test_metric'].mean():.4f}" in card and found["trial_id"] in card
    assert main(["adapter", "export", resumed["dir"], "--trial", "nope", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
