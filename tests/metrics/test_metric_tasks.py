"""evaluate_task: one flat dict per task with ``metric``/``metric_name``, on the paper's ×100 scale."""

from __future__ import annotations

import pytest

from vlpet.data import TASKS, VLExample
from vlpet.metrics import EVALUATORS, METRIC_NAMES, evaluate_task, multiple_choice_accuracy, nlvr2_scores, parse_true_false


def _example(task, example_id, **references):
    return VLExample(task, example_id, f"{task}: ?", None, ("img",), "COCO", references)


def test_vqa_official_per_type_and_label_scores():
    examples = [
        _example("vqa", "1", answers=["net"] * 2 + ["mesh"] * 8, answer_type="other", label={"mesh": 1.0, "net": 0.6}),
        _example("vqa", "2", answers=["2"] * 10, answer_type="number", label={"2": 1.0}),
    ]
    result = evaluate_task("vqa", {"1": "net", "2": "two"}, examples)
    # "net": 2 of 10 → 0.6; "two" vs ten identical "2": not normalised → 0. Mean 0.3 → 30.
    assert result["metric"] == result["vqa_acc"] == pytest.approx(30.0)
    assert result["metric_name"] == "vqa_acc" and result["n_examples"] == 2
    assert result["vqa_acc_other"] == pytest.approx(60.0) and result["vqa_acc_number"] == 0.0
    assert result["vqa_label_acc"] == pytest.approx(30.0)  # (0.6 + 0) / 2
    assert evaluate_task("vqa", ["net", "two"], examples, vqa_scoring="vlpet")["vqa_acc"] == pytest.approx(80.0)


def test_vqa_without_raw_answers_says_what_is_missing():
    with pytest.raises(ValueError, match="no 'answers'.*v2_mscoco"):
        evaluate_task("vqa", {"1": "a"}, [_example("vqa", "1", label={"a": 1.0})])


def test_gqa_exact_match():
    examples = [_example("gqa", "q1", label={"pipe": 1.0}), _example("gqa", "q2", label={"no": 1.0})]
    result = evaluate_task("gqa", {"q1": "pipe", "q2": "No"}, examples)
    assert result["gqa_acc"] == result["metric"] == 50.0 and result["metric_name"] == "gqa_acc"


def test_nlvr_accuracy_and_consistency():
    # Sentence "dev-1-*-0" has two image pairs, both right → consistent; sentence "dev-2-*-0" has one of two
    # wrong → inconsistent. Accuracy 3/4, consistency 1/2.
    examples = [
        _example("nlvr", "u0", identifier="dev-1-0-0", label=True),
        _example("nlvr", "u1", identifier="dev-1-1-0", label=False),
        _example("nlvr", "u2", identifier="dev-2-0-0", label=True),
        _example("nlvr", "u3", identifier="dev-2-1-0", label=True),
    ]
    result = evaluate_task("nlvr", {"u0": "true", "u1": " False", "u2": "true", "u3": "maybe"}, examples)
    assert result["nlvr_acc"] == 75.0 and result["nlvr_consistency"] == 50.0 and result["metric"] == 75.0


def test_nlvr_helpers():
    assert [parse_true_false(x) for x in ("TRUE", "false ", "yes", 1, 0, 2)] == [True, False, None, True, False, None]
    assert nlvr2_scores({"a": True}, {"a": True}, {"a": "test1-5-2-1"}) == {"accuracy": 1.0, "consistency": 1.0}


def test_caption_cider_scaled_by_100():
    examples = [_example("caption", "i1", captions=["a b"]), _example("caption", "i2", captions=["c d"])]
    result = evaluate_task("caption", {"i1": "a b", "i2": "c d"}, examples, tokenizer="simple")
    assert result["cider"] == result["metric"] == pytest.approx(500.0)  # CIDEr 5.0 (see test_metric_cider)
    assert result["metric_name"] == "cider" and result["cider_tokenizer"] == "simple"


def test_video_qa_accuracy_per_show():
    examples = [_example("tvqa", "1", answer="a2", type="Friends"), _example("tvqa", "2", answer="a0", type="House"),
                _example("tvqa", "3", answer="a1", type="House")]
    result = evaluate_task("tvqa", {"1": "a2", "2": "a0 ", "3": "a4"}, examples)
    assert result["tvqa_acc"] == pytest.approx(200 / 3) and result["metric_name"] == "tvqa_acc"
    assert result["tvqa_acc_friends"] == 100.0 and result["tvqa_acc_house"] == 50.0
    assert multiple_choice_accuracy({"1": "a1"}, {"1": "a1"}, {"1": "how2qa"}) == {"how2qa": 1.0, "all": 1.0}


def test_video_captions_value_protocol_and_paper_variant():
    descs_a, descs_b = ["a b", "x y"], ["c d"]
    examples = [
        VLExample("tvc", "11", "tvc: ", "a b", ("v",), "tv", {"clip_id": "A", "desc": "a b", "descs": descs_a}),
        VLExample("tvc", "12", "tvc: ", "x y", ("v",), "tv", {"clip_id": "A", "desc": "x y", "descs": descs_a}),
        VLExample("tvc", "21", "tvc: ", "c d", ("w",), "tv", {"clip_id": "B", "desc": "c d", "descs": descs_b}),
    ]
    predictions = {"11": "a b", "12": "a b", "21": "c d"}
    value = evaluate_task("tvc", predictions, examples, tokenizer="simple")
    paper = evaluate_task("tvc", predictions, examples, tokenizer="simple", caption_eval="vlpet")
    # VALUE: clip A's caption "a b" against both of its descriptions and clip B's against its own — 2 items.
    # Per description: item "12" ("a b" vs "x y") scores 0, so the paper's variant is lower here.
    assert value["metric_name"] == "tvc_cider" and value["caption_eval"] == "value"
    assert value["tvc_cider"] > paper["tvc_cider"] > 0.0


def test_errors():
    examples = [_example("gqa", "q1", label={"a": 1.0})]
    with pytest.raises(ValueError, match="1 prediction"):
        evaluate_task("gqa", {}, examples)
    with pytest.raises(ValueError, match="2 predictions for 1 examples"):
        evaluate_task("gqa", ["a", "b"], examples)
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_task("refcoco", {}, examples)
    with pytest.raises(ValueError, match="test files have no descriptions"):
        evaluate_task("tvc", {"c": "x"}, [VLExample("tvc", "c", "tvc: ", None, ("v",), "tv", {"clip_id": "c"})])
    assert set(METRIC_NAMES) == {"vqa", "gqa", "nlvr", "caption", "tvqa", "how2qa", "tvc", "yc2c", "quickstart"}


def test_every_task_record_names_a_known_evaluator():
    assert {spec.evaluator for spec in TASKS.values()} == set(EVALUATORS)
    assert METRIC_NAMES == {name: spec.metric for name, spec in TASKS.items()}


def test_the_quickstart_scores_as_vqa():
    examples = [_example("vqa", "1", answers=["yes"] * 10, answer_type="yes/no"),
                _example("vqa", "2", answers=["red"] * 9 + ["blue"], answer_type="other")]
    predictions = {"1": "yes", "2": "blue"}
    assert evaluate_task("quickstart", predictions, examples) == evaluate_task("vqa", predictions, examples)
