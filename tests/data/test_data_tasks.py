"""Task loaders: the exact files of data_formats.md §1 → text-to-text examples with the paper's prompts."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vlpet.data import TASKS, resolve_backbone
from vlpet.errors import ConfigError, DataError

COCO_TRAIN = "COCO_train2014_000000000009"
COCO_VAL, COCO_TEST = "COCO_val2014_000000000042", "COCO_val2014_000000000077"


def write_json(path, content):
    path.write_text(json.dumps(content))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_one_record_per_task_holds_what_the_paper_uses():
    assert set(TASKS) == {"vqa", "gqa", "nlvr", "caption", "tvqa", "how2qa", "tvc", "yc2c", "quickstart"}
    assert TASKS["gqa"].prompt == "gpa: "  # the paper's typo, kept so inputs match the published runs
    assert all(spec.prompt == f"{name}: " for name, spec in TASKS.items() if name not in ("gqa", "quickstart"))
    assert TASKS["nlvr"].images == 2 and TASKS["vqa"].max_source_len == 20 and TASKS["tvqa"].max_source_len == 600
    assert {name for name, spec in TASKS.items() if spec.max_new_tokens == 40} == {"caption", "tvc", "yc2c"}
    assert {name: spec.choices for name, spec in TASKS.items() if spec.choices} == {"nlvr": ("true", "false")}
    assert {name: spec.batch_ratio for name, spec in TASKS.items() if spec.batch_ratio != 60} == {
        "gqa": 100, "nlvr": 20, "caption": 50}


def test_quickstart_is_an_ordinary_record_scored_as_vqa():
    quickstart, vqa = TASKS["quickstart"], TASKS["vqa"]
    shared = ("load", "prompt", "metric", "evaluator", "max_source_len", "max_target_len", "batch_ratio",
              "max_new_tokens", "choices")
    assert [getattr(quickstart, key) for key in shared] == [getattr(vqa, key) for key in shared]
    assert quickstart.splits == {"train": "karpathy_train", "val": "karpathy_val", "test": "karpathy_test"}
    own = ("default_root", "tokenizer", "pretrained", "majority_baseline")
    assert all(getattr(quickstart, key) for key in own)
    assert not any(getattr(spec, key) for name, spec in TASKS.items() if name != "quickstart" for key in own)


def test_a_task_without_a_default_location_needs_data_dir(tmp_path):
    assert TASKS["vqa"].data_root(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="task 'vqa' needs data_dir"):
        TASKS["vqa"].data_root(None)


def test_task_backbones_resolve_to_a_checkpoint_before_loading(monkeypatch, tmp_path):
    built = []
    pretrained = lambda name: built.append(name) or tmp_path / name  # noqa: E731
    monkeypatch.setitem(TASKS, "quickstart", dataclasses.replace(TASKS["quickstart"], pretrained=pretrained))
    assert resolve_backbone("quickstart:tiny-bart") == str(tmp_path / "tiny-bart") and built == ["tiny-bart"]
    assert resolve_backbone("quickstart:tiny-t5", weights=False) == "tiny-t5" and built == ["tiny-bart"]
    for other in ("facebook/bart-base", "tiny-bart", "vqa:tiny-bart", "./ckpt:1", str(tmp_path)):
        assert resolve_backbone(other) == other


def test_vqa_prompt_target_and_official_answers(vl_root):
    first, second = TASKS["vqa"].read(vl_root, "karpathy_train")
    assert first.source_text == "vqa: What is this photo taken looking through?"
    assert first.target_text == "net" and first.example_id == "9000" and first.image_ids == (COCO_TRAIN,)
    assert first.references["answers"] == ["net"] * 8 + ["netting", "mesh"]
    assert first.references["label"] == {"net": 1.0, "mesh": 0.3} and first.feature_source == "COCO"
    assert second.target_text == "3" and second.target_choices == (("2", 0.6), ("3", 0.9))
    assert [e.example_id for e in TASKS["vqa"].read(vl_root, "karpathy_train,karpathy_test")] == ["9000", "9001", "42000"]


def test_vqa_missing_official_annotation_file_is_named(vl_root):
    (vl_root / "vqa" / "v2_mscoco_val2014_annotations.json").unlink()
    with pytest.raises(DataError, match=r"v2_mscoco_val2014_annotations\.json does not exist"):
        TASKS["vqa"].read(vl_root, "karpathy_test")


def test_vqa_rows_with_their_own_answers_need_no_official_file(vl_root):
    (vl_root / "vqa" / "v2_mscoco_train2014_annotations.json").unlink()
    write_json(vl_root / "vqa" / "mini.json", [{"img_id": COCO_VAL, "question_id": 1, "question": "Color?",
                                                "label": {"red": 1.0}, "answers": [{"answer": "red"}] * 10}])
    (example,) = TASKS["vqa"].read(vl_root, "mini")
    assert example.source_text == "vqa: Color?" and example.references["answers"] == ["red"] * 10


def test_vqa_missing_split_and_malformed_rows(vl_root):
    with pytest.raises(DataError, match=r"karpathy_val\.json does not exist"):
        TASKS["vqa"].read(vl_root, "karpathy_val")
    write_json(vl_root / "vqa" / "bad.json", [{"img_id": COCO_VAL, "sent": "Why?"}])
    with pytest.raises(DataError, match=r"bad\.json, entry 0: missing field\(s\) \['question_id'\]"):
        TASKS["vqa"].read(vl_root, "bad")
    (vl_root / "vqa" / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match=r"broken\.json is not valid JSON"):
        TASKS["vqa"].read(vl_root, "broken")


def test_vqa_inconsistent_vocabulary(vl_root):
    write_json(vl_root / "vqa" / "trainval_label2ans.json", ["mesh", "net", "2", "3", "yes"])
    with pytest.raises(DataError, match="disagree on answer 'net'"):
        TASKS["vqa"].read(vl_root, "karpathy_test")


def test_gqa_prompt_and_feature_directory_by_split(vl_root):
    (train,) = TASKS["gqa"].read(vl_root, "train")
    (testdev,) = TASKS["gqa"].read(vl_root, "testdev")
    assert train.source_text == "gpa: What is on the white wall?" and train.target_text == "pipe"
    assert train.example_id == "07333408" and train.feature_source == "VG" and testdev.feature_source == "GQA"
    with pytest.raises(DataError, match="unknown GQA split 'dev'"):
        TASKS["gqa"].read(vl_root, "dev")


def test_nlvr_two_images_and_true_false_targets(vl_root):
    first, second = TASKS["nlvr"].read(vl_root, "train")
    assert first.source_text == "nlvr: An image shows one leather pencil case."
    assert first.image_ids == ("train-10171-0-img0", "train-10171-0-img1")
    assert (first.target_text, second.target_text) == ("false", "true")
    assert first.references == {"identifier": "train-10171-0-0", "label": False}


def test_captions_train_per_caption_eval_per_image(vl_root):
    train = TASKS["caption"].read(vl_root, "karpathy_train")  # restval counts as train
    assert [e.target_text for e in train] == ["A dog runs.", "A brown dog.", "Two cats sleep."]
    assert {e.source_text for e in train} == {"caption: "}
    assert train[0].references["captions"] == ["A dog runs.", "A brown dog."]
    (test,) = TASKS["caption"].read(vl_root, "test")
    assert test.example_id == COCO_TEST and test.references["captions"] == ["A red bus.", "A bus on a street."]
    assert TASKS["caption"].read(vl_root, "val") == [] and train[2].image_ids == (COCO_VAL,)


def test_caption_ids_must_name_train_or_val(vl_root):
    path = vl_root / "COCO" / "dataset_coco.json"
    content = json.loads(path.read_text())
    content["images"][0]["filename"] = "000000000009.jpg"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match="contains neither 'train' nor 'val'"):
        TASKS["caption"].read(vl_root, "train")


def test_tvqa_text_and_target(vl_root):
    (example,) = TASKS["tvqa"].read(vl_root, "train")
    assert example.source_text == (
        "[Subs] Hello there. Bye. [Q] Who waves? [TS] (20.16-25.12) [Choices] a0: choice 0. a1: choice 1. "
        "a2: choice 2. a3: choice 3. a4: choice 4. tvqa: ")
    assert example.target_text == "a2" and example.references == {"type": "Friends", "answer": "a2"}
    assert example.image_ids == ("s01e01_seg01",) and example.feature_source == "tv"
    (test,) = TASKS["tvqa"].read(vl_root, "test_public")
    assert test.target_text is None and "answer" not in test.references


def test_how2qa_has_four_choices(vl_root):
    (example,) = TASKS["how2qa"].read(vl_root, "train_release")
    assert example.source_text.endswith("[Choices] a0: c0. a1: c1. a2: c2. a3: c3. how2qa: ")
    assert example.target_text == "a0" and example.feature_source == "how2"


def test_tvc_one_example_per_description_and_yc2c_without_ts(vl_root):
    first, second = TASKS["tvc"].read(vl_root, "train_release")
    assert first.source_text == "[Subs] Hello there. Bye. [TS] ([20.16, 25.12]) tvc: "
    assert (first.example_id, first.target_text, second.target_text) == ("11", "A man waves.", "He says hello.")
    assert first.references == {"clip_id": "5", "desc": "A man waves.", "descs": ["A man waves.", "He says hello."]}
    (test,) = TASKS["tvc"].read(vl_root, "test_release")
    assert test.example_id == "6" and test.target_text is None
    (yc2,) = TASKS["yc2c"].read(vl_root, "val_release")
    assert yc2.source_text == "[Subs] Hello there. Bye. yc2c: " and yc2.feature_source == "yc2"


def test_video_errors_name_file_and_problem(vl_root):
    ann = vl_root / "video" / "ann"
    write_jsonl(ann / "tvqa" / "tvqa_val.jsonl", [{"vid_name": "unknown_vid", "q": "?", "qid": 1, "ts": "0-1",
                                                   **{f"a{i}": "x" for i in range(5)}}])
    with pytest.raises(DataError, match=r"tvqa_val\.jsonl, entry 0: video 'unknown_vid' has no entry in the subtitle"):
        TASKS["tvqa"].read(vl_root, "val")
    write_jsonl(ann / "tvqa" / "tvqa_val.jsonl", [{"vid_name": "s01e01_seg01", "q": "?", "qid": 1, "ts": "0-1"}])
    with pytest.raises(DataError, match=r"missing field\(s\) \['a0', 'a1', 'a2', 'a3', 'a4'\]"):
        TASKS["tvqa"].read(vl_root, "val")
    (ann / "tv_subtitles.jsonl").write_text('{"vid_name": "x", "sub": []}\nnot json\n')
    with pytest.raises(DataError, match=r"tv_subtitles\.jsonl, line 2: not valid JSON"):
        TASKS["tvqa"].read(vl_root, "train")


def test_loaded_examples_score_with_evaluate_task(vl_root):
    from vlpet.metrics import evaluate_task

    examples = TASKS["vqa"].read(vl_root, "karpathy_train")
    # 9000: "net" from 8 of 10 annotators → 1.0; 9001: "3" from 3 of 10 → 0.9 (see tests/metrics). Mean 95%.
    assert evaluate_task("vqa", {"9000": "net", "9001": "3"}, examples)["vqa_acc"] == pytest.approx(95.0)
