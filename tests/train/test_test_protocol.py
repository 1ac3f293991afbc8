"""The held-out test protocol: validation selects, test reports. ``last`` tests the final weights, ``best_val``
the weights of the evaluation with the best validation metric; test metrics come from the test split only."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from tests.train.fixtures import write_mini_quickstart
from vlpet.build import build_trial_model
from vlpet.train.checkpoint import BEST_FILE, latest_checkpoint
from vlpet.train.data_pipeline import TrialData
from vlpet.train.evaluate import held_out_metrics
from vlpet.train.loop import run_trial
from vlpet.train.runtime import local_runtime
from vlpet.trial_config import TrialConfig


def config(data_dir, **overrides):
    return TrialConfig.from_dict({
        "backbone": "tiny-bart", "task": "quickstart", "data_dir": str(data_dir), "visual_feat_dim": 192,
        "bottleneck": 8, "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 4, "epochs": 3,
        "max_new_tokens": 3, "lr": 3e-2, "seed": 3, **overrides})


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """The miniature quickstart with a test split of its own: half of the held-out questions, reversed."""
    root = write_mini_quickstart(tmp_path_factory.mktemp("mini"))
    held_out = json.loads((root / "vqa" / "karpathy_val.json").read_text())
    (root / "vqa" / "karpathy_test.json").write_text(json.dumps(held_out[::2]))
    return root


def run_recording(cfg, out_dir):
    """Run a trial; returns its reports and the trainable tensors each evaluation's checkpoint held."""
    reports, weights = [], {}

    def report(metrics, checkpoint):
        reports.append(metrics)
        weights[metrics["step"]] = load_file(os.path.join(checkpoint, "pet.safetensors"))

    final = run_trial(cfg, str(out_dir), report=report)
    return final, reports, weights


def metrics_on_test_split(cfg, weights):
    """Test metrics of ``weights``, computed here from the test split."""
    model = build_trial_model(cfg)
    model.load_state_dict(weights, strict=False)
    return held_out_metrics(model, TrialData(cfg), cfg, local_runtime("fp32"), None)


def test_last_tests_the_final_weights_on_the_test_split(mini, tmp_path):
    cfg = config(mini)
    final, reports, weights = run_recording(cfg, tmp_path)
    assert final["tested_checkpoint"] == "last" and final["tested_step"] == final["step"]
    assert final["test_n_examples"] == 6 and final["n_examples"] == 12  # the test split, not validation
    expected = metrics_on_test_split(cfg, weights[final["step"]])
    assert {k: final[k] for k in expected} == expected
    assert all(not k.startswith("test_") for report in reports[:-1] for k in report)


def test_best_val_tests_the_weights_of_the_best_validation_evaluation(mini, tmp_path):
    cfg = config(mini, test_checkpoint="best_val")
    final, reports, weights = run_recording(cfg, tmp_path)
    best = max(reports, key=lambda m: m["metric"])  # the first of equal values, as the loop keeps it
    assert final["tested_checkpoint"] == "best_val" and final["tested_step"] == best["step"]
    assert best["step"] != final["step"]  # this seed and lr peak before the end, so the choice matters
    kept = load_file(os.path.join(latest_checkpoint(str(tmp_path / "checkpoints")), BEST_FILE))
    assert all(torch.equal(kept[name], weights[best["step"]][name]) for name in kept)
    expected = metrics_on_test_split(cfg, weights[best["step"]])
    assert {k: final[k] for k in expected} == expected
    last = load_file(os.path.join(latest_checkpoint(str(tmp_path / "checkpoints")), "pet.safetensors"))
    assert all(torch.equal(last[name], weights[final["step"]][name]) for name in last)  # training's end is kept


def test_none_skips_the_test(mini, tmp_path):
    final = run_trial(config(mini, test_checkpoint="none", epochs=1), str(tmp_path))
    assert not any(key.startswith("test") for key in final)
