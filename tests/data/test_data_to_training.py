"""The VL-Adapter formats feed a real multitask trial: one task's batch per step, per-task metrics."""

import json
import shutil

import pytest

from vlpet.errors import DataError

from vlpet.data.quickstart import quickstart_backbone
from vlpet.train.loop import run_trial
from vlpet.trial_config import TrialConfig


def test_multitask_trial_on_files_in_the_paper_layouts(vl_root, tmp_path, monkeypatch):
    # the shared fixture has no VQA val / NLVR2 valid files: reuse the test and train files in those roles
    shutil.copy(vl_root / "vqa" / "karpathy_test.json", vl_root / "vqa" / "karpathy_val.json")
    shutil.copy(vl_root / "nlvr" / "train.json", vl_root / "nlvr" / "valid.json")
    coco = json.loads((vl_root / "COCO" / "dataset_coco.json").read_text())
    coco["images"].append({**coco["images"][1], "split": "val"})
    (vl_root / "COCO" / "dataset_coco.json").write_text(json.dumps(coco))
    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    checkpoint = quickstart_backbone("tiny-bart")  # a real local checkpoint with its own tokenizer
    config = TrialConfig.from_dict({
        "backbone": str(checkpoint), "task": "vqa,gqa,nlvr,caption", "data_dir": str(vl_root),
        "visual_feat_dim": 2048, "bottleneck": 8, "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 2,
        "epochs": 2, "num_beams": 2, "max_new_tokens": 4})
    reports = []
    final = run_trial(config, str(tmp_path), report=lambda m, c: reports.append(m))
    assert len(reports) == 2
    assert {"vqa_acc", "gqa_acc", "nlvr_acc", "cider"} <= set(final)
    assert final["metric_name"] == "mean(vqa_acc,gqa_acc,nlvr_acc,cider)"
    assert {"test_vqa_acc", "test_gqa_acc", "test_nlvr_acc", "test_cider", "test_metric"} <= set(final)
    assert final["tested_checkpoint"] == "last" and final["tested_step"] == final["step"]
    assert not any(key.startswith("test_") for report in reports[:-1] for key in report)  # only the last is tested
    from vlpet.train.data_pipeline import TrialData

    per_epoch = TrialData(config).steps_per_epoch()
    assert per_epoch >= 4  # at least one batch of each of the four tasks
    assert final["step"] == 2 * per_epoch and final["epoch"] == 2


def test_an_empty_evaluation_split_is_named_before_training(vl_root, tmp_path, monkeypatch):
    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    config = TrialConfig.from_dict({"backbone": str(quickstart_backbone("tiny-bart")), "task": "caption",
                                    "data_dir": str(vl_root), "visual_feat_dim": 2048})
    with pytest.raises(DataError, match="task caption has no val examples"):
        run_trial(config, str(tmp_path))


def test_nlvr_is_scored_by_comparing_true_and_false_at_the_first_step(vl_root, tmp_path, monkeypatch):
    from vlpet.build import build_trial_model
    from vlpet.train.data_pipeline import TrialData
    from vlpet.train.evaluate import _choice_prefix, predict_choice
    from vlpet.train.runtime import local_runtime

    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    shutil.copy(vl_root / "nlvr" / "train.json", vl_root / "nlvr" / "valid.json")
    config = TrialConfig.from_dict({"backbone": str(quickstart_backbone("tiny-bart")), "task": "nlvr",
                                    "data_dir": str(vl_root), "visual_feat_dim": 2048})
    data = TrialData(config)
    prefix, true_id = _choice_prefix(data.tokenizer, "true")
    assert data.tokenizer.convert_ids_to_tokens(prefix) == ["<s>"]  # BART targets start with <s>
    assert data.tokenizer.convert_ids_to_tokens([true_id]) == ["true"]
    predictions = predict_choice(build_trial_model(config), data, "nlvr", config, local_runtime())
    assert set(predictions) == {e.example_id for e in data.eval_sets["nlvr"].examples}
    assert set(predictions.values()) <= {"true", "false"}
