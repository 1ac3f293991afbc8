"""Exact-match metrics: GQA, NLVR2 (accuracy and consistency) and multiple-choice video QA."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping


def gqa_exact_match(prediction: str, label: Mapping[str, float]) -> float:
    """Score of ``prediction`` in the GQA label ({answer: 1.0}): 1.0 on an exact string match, else 0.0.

    This is VL-PET's ``GQAEvaluator.evaluate`` per question (Σ label[pred] / N over a split).
    """
    return float(label.get(prediction, 0.0))


def parse_true_false(prediction: str | bool | int) -> bool | None:
    """NLVR2 prediction → bool: "true"/"false" (any case, surrounding spaces ignored), a bool or 0/1;
    None for anything else (which then counts as wrong)."""
    if isinstance(prediction, (bool, int)):
        return bool(prediction) if prediction in (0, 1) else None
    text = str(prediction).strip().lower()
    return {"true": True, "false": False}.get(text)


def _consistency_key(identifier: str) -> str:
    """Blank the third dash-separated field: examples of one sentence share the key (lil-lab/nlvr metrics.py)."""
    fields = identifier.split("-")
    if len(fields) < 3:
        raise ValueError(f"NLVR2 identifier {identifier!r} has fewer than 3 '-'-separated fields")
    fields[2] = ""
    return "-".join(fields)


def nlvr2_scores(predictions: Mapping[str, bool | None], labels: Mapping[str, bool],
                 identifiers: Mapping[str, str]) -> dict[str, float]:
    """NLVR2 ``accuracy`` and ``consistency`` in [0, 1], as the official ``nlvr2/eval/metrics.py``.

    All three mappings are keyed by example id. Consistency is the fraction of sentences (identifiers with
    their third field blanked) whose every example is predicted correctly.
    """
    if not labels:
        raise ValueError("nlvr2_scores needs at least one labelled example")
    missing = sorted(set(labels) - set(predictions))
    if missing:
        raise ValueError(f"{len(missing)} NLVR2 prediction(s) missing, e.g. {missing[:3]}")
    correct, consistent = 0, {}
    for key, label in labels.items():
        right = predictions[key] is not None and predictions[key] == label
        group = _consistency_key(identifiers[key])
        correct += right
        consistent[group] = consistent.get(group, True) and right
    return {"accuracy": correct / len(labels), "consistency": sum(consistent.values()) / len(consistent)}


def multiple_choice_accuracy(predictions: Mapping[str, str], answers: Mapping[str, str],
                             types: Mapping[str, str]) -> dict[str, float]:
    """Exact-string accuracy in [0, 1] overall (``"all"``) and per type (TVQA show, How2QA task), as VL-PET's
    ``TVQAEvaluator``. Keyed by example id; predictions are compared unchanged (e.g. "a2" == "a2")."""
    if not answers:
        raise ValueError("multiple_choice_accuracy needs at least one answered example")
    missing = sorted(set(answers) - set(predictions))
    if missing:
        raise ValueError(f"{len(missing)} prediction(s) missing, e.g. {missing[:3]}")
    hits: dict[str, list[bool]] = defaultdict(list)
    for key, answer in answers.items():
        hits[types[key]].append(predictions[key] == answer)
    scores = {kind: sum(values) / len(values) for kind, values in sorted(hits.items())}
    scores["all"] = sum(sum(values) for values in hits.values()) / len(answers)
    return scores
