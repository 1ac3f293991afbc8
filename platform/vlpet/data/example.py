"""The one example type every task loader produces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlpet.errors import DataError


@dataclass(frozen=True)
class VLExample:
    """One text-to-text example of a vision-and-language task.

    ``source_text``: the encoder text, task prompt included. ``target_text``: the training target, or None
    where the split has no labels (test files). ``image_ids``: the feature keys, one per image (two for NLVR2,
    the video name for video tasks), looked up in the feature store named ``feature_source``.
    ``references``: what the task's metric needs (answers, labels, captions, ...). ``target_choices``:
    (answer, score) pairs a training dataset may sample the target from (VQA/GQA soft labels).
    """

    task: str
    example_id: str
    source_text: str
    target_text: str | None
    image_ids: tuple[str, ...]
    feature_source: str
    references: Mapping[str, Any] = field(default_factory=dict)
    target_choices: tuple[tuple[str, float], ...] = ()


def check_unique_ids(examples: Iterable[VLExample], path: Path | str) -> None:
    """Raise DataError if two examples loaded from ``path`` share an example_id (predictions are keyed by it)."""
    seen: set[str] = set()
    for example in examples:
        if example.example_id in seen:
            raise DataError(f"{path}: duplicate example id {example.example_id!r}")
        seen.add(example.example_id)
