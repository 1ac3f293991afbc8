"""The trial loop: exact resume, NaN handling, reported keys, text-only input."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from tests.train.fixtures import write_mini_quickstart
from vlpet.errors import TrainingDiverged
from vlpet.train.checkpoint import latest_checkpoint
from vlpet.train.loop import run_trial
from vlpet.trial_config import TrialConfig

REPORTED = {"metric", "metric_name", "vqa_acc", "trainable_params", "total_params", "trainable_pct",
            "train_step_s", "samples_per_s", "peak_mem_bytes", "epoch", "step", "majority_baseline"}


def config(data_dir, **overrides):
    return TrialConfig.from_dict({
        "backbone": "tiny-bart", "task": "quickstart", "data_dir": str(data_dir), "visual_feat_dim": 192,
        "bottleneck": 8, "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 4, "epochs": 2,
        "num_beams": 1, "max_new_tokens": 3, "lr": 3e-3, "seed": 3, **overrides})


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_mini_quickstart(tmp_path_factory.mktemp("mini"))


def final_weights(out_dir):
    return load_file(os.path.join(latest_checkpoint(os.path.join(out_dir, "checkpoints")), "pet.safetensors"))


def test_reports_every_evaluation_with_the_architecture_keys(mini, tmp_path):
    reports = []
    final = run_trial(config(mini), str(tmp_path), report=lambda m, c: reports.append((m, c)))
    assert [m["epoch"] for m, _ in reports] == [1, 2]
    assert REPORTED <= set(final)
    assert final["step"] == 2 * 9  # 36 training questions / batch 4, two epochs
    assert 0 < final["trainable_pct"] < 100 and final["peak_mem_bytes"] > 0
    assert all(os.path.isfile(os.path.join(c, "pet.safetensors")) for _, c in reports[-1:])
    json.dumps(final)  # one flat JSON-able dict


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(mini, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_trial(config(mini), str(straight))
    run_trial(config(mini), str(resumed), stop_after_steps=5)
    assert latest_checkpoint(str(resumed / "checkpoints")).endswith("step_000005")
    run_trial(config(mini), str(resumed))
    a, b = final_weights(straight), final_weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_nan_loss_stops_with_a_clear_error_and_keeps_checkpoints(mini, tmp_path):
    run_trial(config(mini), str(tmp_path), stop_after_steps=2)
    kept = latest_checkpoint(str(tmp_path / "checkpoints"))
    poisoned = write_mini_quickstart(tmp_path / "nan", nan_features=True)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 3"):
        run_trial(config(poisoned), str(tmp_path))
    assert latest_checkpoint(str(tmp_path / "checkpoints")) == kept
    assert os.path.isfile(os.path.join(kept, "pet.safetensors"))


def test_text_only_trial_ignores_the_image(mini, tmp_path):
    final = run_trial(config(mini, text_only=True, epochs=1), str(tmp_path))
    assert final["metric"] <= 50.0  # the questions carry no colour information; four answers


def test_bf16_autocast_runs_and_reports_finite_metrics(mini, tmp_path):
    final = run_trial(config(mini, precision="bf16", epochs=1), str(tmp_path))
    assert final["step"] == 9 and final["train_step_s"] > 0
