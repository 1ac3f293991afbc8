"""``evaluate_task``: one flat metric dict per task, with the primary ``metric`` (higher is better).

Each task record (``vlpet.data.registry.TaskSpec``) names its evaluator, a key of ``EVALUATORS``, and the primary
metric key that evaluator reports. All scores are on the paper's scale: accuracies in percent, CIDEr ×100 (so the README's "Avg." is a plain
mean of vqa_acc, gqa_acc, nlvr_acc and cider).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vlpet.data.registry import TASKS, get_task
from vlpet.metrics.accuracy import gqa_exact_match, multiple_choice_accuracy, nlvr2_scores, parse_true_false
from vlpet.metrics.cider import cider, resolve_tokenizer
from vlpet.metrics.vqa import vqa_accuracy

CAPTION_EVALS = ("value", "vlpet")


def _aligned(task: str, predictions: Mapping[str, str] | Sequence[str], examples: Sequence) -> dict[str, str]:
    """Predictions keyed by example id; a sequence must align with ``examples``."""
    if not isinstance(predictions, Mapping):
        if len(predictions) != len(examples):
            raise ValueError(f"{task}: {len(predictions)} predictions for {len(examples)} examples")
        return {example.example_id: prediction for example, prediction in zip(examples, predictions)}
    missing = [example.example_id for example in examples if example.example_id not in predictions]
    if missing:
        raise ValueError(f"{task}: {len(missing)} prediction(s) missing, e.g. {missing[:3]}")
    return dict(predictions)


def _require(task: str, examples: Sequence, key: str, hint: str) -> None:
    if not examples:
        raise ValueError(f"{task}: no examples to evaluate")
    lacking = [e.example_id for e in examples if key not in e.references]
    if lacking:
        raise ValueError(f"{task}: {len(lacking)} example(s) have no '{key}' to score against "
                         f"(e.g. {lacking[:3]}); {hint}")


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()


def _vqa(task: str, predictions: dict, examples: Sequence, vqa_scoring: str = "official", **_: Any) -> dict:
    _require(task, examples, "answers", "load the official v2_mscoco_*_annotations.json or rows with 'answers'")
    scores = {e.example_id: vqa_accuracy(predictions[e.example_id], e.references["answers"], vqa_scoring)
              for e in examples}
    out = {"vqa_acc": 100 * sum(scores.values()) / len(scores), "vqa_scoring": vqa_scoring}
    by_type: dict[str, list[float]] = {}
    for e in examples:
        if e.references.get("answer_type"):
            by_type.setdefault(_slug(e.references["answer_type"]), []).append(scores[e.example_id])
    out.update({f"vqa_acc_{kind}": 100 * sum(v) / len(v) for kind, v in sorted(by_type.items())})
    if all("label" in e.references for e in examples):  # VL-PET's "topk" evaluate: Σ label[pred] / N
        out["vqa_label_acc"] = 100 * sum(float(e.references["label"].get(predictions[e.example_id], 0.0))
                                         for e in examples) / len(examples)
    return out


def _gqa(task: str, predictions: dict, examples: Sequence, **_: Any) -> dict:
    _require(task, examples, "label", "this split has no answers")
    total = sum(gqa_exact_match(predictions[e.example_id], e.references["label"]) for e in examples)
    return {"gqa_acc": 100 * total / len(examples)}


def _nlvr(task: str, predictions: dict, examples: Sequence, **_: Any) -> dict:
    _require(task, examples, "label", "this split has no labels")
    scores = nlvr2_scores({e.example_id: parse_true_false(predictions[e.example_id]) for e in examples},
                          {e.example_id: e.references["label"] for e in examples},
                          {e.example_id: e.references["identifier"] for e in examples})
    return {"nlvr_acc": 100 * scores["accuracy"], "nlvr_consistency": 100 * scores["consistency"]}


def _caption(task: str, predictions: dict, examples: Sequence, tokenizer: str = "auto", **_: Any) -> dict:
    _require(task, examples, "captions", "this split has no captions")
    method = resolve_tokenizer(tokenizer)
    refs = {e.example_id: list(e.references["captions"]) for e in examples}
    return {"cider": 100 * cider(predictions, refs, method), "cider_tokenizer": method}


def _video_caption(task: str, predictions: dict, examples: Sequence, tokenizer: str = "auto",
                   caption_eval: str = "value", **_: Any) -> dict:
    if caption_eval not in CAPTION_EVALS:
        raise ValueError(f"caption_eval must be one of {CAPTION_EVALS}, got {caption_eval!r}")
    _require(task, examples, "descs", "test files have no descriptions")
    method = resolve_tokenizer(tokenizer)
    if caption_eval == "vlpet":  # one score item per description, against that description only
        hyps = {e.example_id: predictions[e.example_id] for e in examples}
        refs = {e.example_id: [e.references["desc"]] for e in examples}
    else:  # VALUE: one hypothesis per clip (its first example's) against all of the clip's descriptions
        hyps, refs = {}, {}
        for e in examples:
            clip = e.references["clip_id"]
            hyps.setdefault(clip, predictions[e.example_id])
            refs.setdefault(clip, list(e.references["descs"]))
    return {f"{task}_cider": 100 * cider(hyps, refs, method), "cider_tokenizer": method,
            "caption_eval": caption_eval}


def _video_qa(task: str, predictions: dict, examples: Sequence, **_: Any) -> dict:
    _require(task, examples, "answer", "test files have no answers")
    scores = multiple_choice_accuracy({e.example_id: str(predictions[e.example_id]).strip() for e in examples},
                                      {e.example_id: e.references["answer"] for e in examples},
                                      {e.example_id: e.references.get("type", task) for e in examples})
    out = {f"{task}_acc": 100 * scores.pop("all")}
    if len(scores) > 1:
        out.update({f"{task}_acc_{_slug(kind)}": 100 * value for kind, value in scores.items()})
    return out


# evaluator key (a task record's ``evaluator``) → evaluator(task, predictions, examples, **options) → metrics
EVALUATORS: dict[str, Callable[..., dict]] = {
    "vqa": _vqa, "gqa": _gqa, "nlvr": _nlvr, "caption": _caption, "video_qa": _video_qa,
    "video_caption": _video_caption,
}
METRIC_NAMES = {name: spec.metric for name, spec in TASKS.items()}  # task → its primary metric key


def evaluate_task(task: str, predictions: Mapping[str, str] | Sequence[str], examples: Sequence,
                  vqa_scoring: str = "official", caption_eval: str = "value", tokenizer: str = "auto") -> dict:
    """Score ``predictions`` for ``examples`` (VLExamples of ``task``) and return a flat metric dict.

    ``predictions``: {example_id: text} or a list aligned with ``examples``. The dict holds ``metric`` (the
    primary score, higher is better), ``metric_name``, ``n_examples`` and the task's keys: ``vqa_acc``
    (+ ``vqa_acc_<answer type>``, ``vqa_label_acc``), ``gqa_acc``, ``nlvr_acc``/``nlvr_consistency``,
    ``cider``, ``tvqa_acc``/``how2qa_acc`` (+ per show), ``tvc_cider``/``yc2c_cider``. Options:
    ``vqa_scoring`` "official" | "vlpet" (see vqa_accuracy); ``caption_eval`` for TVC/YC2C, "value" (one
    caption per clip vs all its descriptions, the official VALUE protocol) | "vlpet" (per description);
    ``tokenizer`` for CIDEr, "auto" | "ptb" | "simple" (see metrics.cider).
    """
    spec = get_task(task)
    aligned = _aligned(task, predictions, examples)
    out = EVALUATORS[spec.evaluator](task, aligned, examples, vqa_scoring=vqa_scoring, caption_eval=caption_eval,
                                     tokenizer=tokenizer)
    return {"metric": out[spec.metric], "metric_name": spec.metric, "n_examples": len(examples), **out}
