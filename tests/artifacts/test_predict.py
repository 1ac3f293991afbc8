"""`vlpet predict` (issue 17): on each image-text task's fixture split one prediction per example in the task's
official format, and printed metrics equal to the training loop's evaluation of the same checkpoint."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from tests.train.fixtures import write_mini_quickstart
from tests.data.conftest import vl_root  # noqa: F401  (the VL-Adapter fixture files)
from vlpet.artifacts.load import load_adapter
from vlpet.cli import main
from vlpet.data.quickstart import quickstart_backbone
from vlpet.train.data_pipeline import TrialData
from vlpet.train.evaluate import evaluate_model
from vlpet.train.runtime import local_runtime
from vlpet.trial_config import TrialConfig

TASKS = {"vqa": ("test", "question_id"), "gqa": ("val", "questionId"), "nlvr": ("test", None),
         "caption": ("test", "image_id")}


def predicted(capsys, *args):
    capsys.readouterr()
    assert main(["predict", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_quickstart_predictions_score_as_the_training_loop_tested_them(tmp_path, capsys):
    data = write_mini_quickstart(tmp_path / "data")
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps({"backbone": "tiny-bart", "task": "quickstart", "data_dir": str(data),
                                 "visual_feat_dim": 192, "batch_size": 4, "max_steps": 3, "eval_size": 6,
                                 "max_new_tokens": 3, "lr": 1e-2, "bottleneck": 8, "gate_bottleneck": 8,
                                 "decoder_bottleneck": 8}))
    assert main(["train", str(trial), "--out", str(tmp_path / "run"), "--json"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    shown = predicted(capsys, str(tmp_path / "run"), "--task", "quickstart", "--split", "test", "--limit", "6",
                      "--out", str(tmp_path / "p.json"))
    assert {k: shown["metrics"][k] for k in ("metric", "vqa_acc", "n_examples")} == \
        {k: final[f"test_{k}"] for k in ("metric", "vqa_acc", "n_examples")}
    rows = json.loads((tmp_path / "p.json").read_text())
    assert len(rows) == 6 and all(set(r) == {"question_id", "answer"} and isinstance(r["question_id"], int)
                                  for r in rows)


@pytest.fixture
def multitask_run(vl_root, tmp_path, monkeypatch, capsys):
    """A two-step `vlpet train` run on the VL-Adapter fixture files (a real tokenizer-bearing checkpoint)."""
    shutil.copy(vl_root / "vqa" / "karpathy_test.json", vl_root / "vqa" / "karpathy_val.json")
    shutil.copy(vl_root / "nlvr" / "train.json", vl_root / "nlvr" / "valid.json")
    coco = json.loads((vl_root / "COCO" / "dataset_coco.json").read_text())
    coco["images"].append({**coco["images"][1], "split": "val"})
    (vl_root / "COCO" / "dataset_coco.json").write_text(json.dumps(coco))
    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps({"backbone": str(quickstart_backbone("tiny-bart")), "task": "vqa,gqa,nlvr,caption",
                                 "data_dir": str(vl_root), "visual_feat_dim": 2048, "bottleneck": 8,
                                 "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 2, "max_steps": 2,
                                 "num_beams": 2, "max_new_tokens": 4}))
    assert main(["train", str(trial), "--out", str(tmp_path / "run"), "--json"]) == 0
    return tmp_path / "run"


def test_each_image_text_task_gets_its_official_format_and_the_loops_metrics(multitask_run, vl_root, tmp_path,
                                                                            capsys):
    model = load_adapter(str(multitask_run))
    for task, (split, key) in TASKS.items():
        out = tmp_path / f"{task}.out"
        shown = predicted(capsys, str(multitask_run), "--task", task, "--split", split, "--out", str(out))
        config = TrialConfig.from_dict({**model.trial_config.to_dict(), "task": task})
        loop = evaluate_model(model, TrialData(config), config, local_runtime("fp32"), split)
        assert {k: shown["metrics"][k] for k in loop if k in shown["metrics"]} == \
            {k: v for k, v in loop.items() if k in shown["metrics"]}
        assert shown["metrics"]["metric"] == loop["metric"]
        if task == "nlvr":
            rows = list(csv.reader(out.read_text().splitlines()))
            assert all(len(r) == 2 and r[1] in ("True", "False") for r in rows)
        else:
            rows = json.loads(out.read_text())
            assert all(key in r for r in rows)
        assert len(rows) == shown["metrics"]["n_examples"] or task == "caption"
        assert len(rows) == shown["n"] or task == "caption"  # COCO: one caption per image
