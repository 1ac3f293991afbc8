"""Batching VLItems: tokenization with any Hugging Face tokenizer, visual features stacked to [B, I, N, F]."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from vlpet.data.dataset import VLItem


def _limits(items: Sequence[VLItem], max_source_len: int | None, max_target_len: int | None) -> tuple:
    """Explicit lengths win; otherwise the registered task's paper lengths (one task per batch)."""
    if max_source_len is not None and max_target_len is not None:
        return max_source_len, max_target_len
    from vlpet.data.registry import TASKS  # local import: the registry imports every loader

    tasks = {item.example.task for item in items}
    if len(tasks) != 1:
        raise ValueError(f"a batch mixes tasks {sorted(tasks)}; collate one task at a time or pass both lengths")
    spec = TASKS.get(tasks.pop())
    source = max_source_len if max_source_len is not None else (spec.max_source_len if spec else None)
    target = max_target_len if max_target_len is not None else (spec.max_target_len if spec else None)
    return source, target


def _tokenize(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_len: int | None) -> dict:
    return tokenizer(texts, padding=True, truncation=max_len is not None, max_length=max_len, return_tensors="pt")


def _stack_visual(items: Sequence[VLItem]) -> torch.Tensor:
    shapes = {tuple(item.visual_feats.shape) for item in items}
    if len(shapes) != 1:
        raise ValueError(f"items have different visual feature shapes {sorted(shapes)}; batch one task at a time")
    return torch.stack([item.visual_feats for item in items]).float()


def collate(items: Sequence[VLItem], tokenizer: PreTrainedTokenizerBase, max_source_len: int | None = None,
            max_target_len: int | None = None) -> dict[str, Any]:
    """Batch ``items`` (usually one task's) for a VL encoder-decoder.

    Returns ``input_ids``/``attention_mask`` [B, Lt] (sources truncated to ``max_source_len`` tokens, default
    the task's paper length), ``visual_feats`` float32 [B, I, N, F], ``loss_weights`` float32 [B], ``task``
    (the first item's), ``examples`` (the VLExamples) and, when every item has a target, ``labels`` [B, Lo]
    (targets truncated to ``max_target_len``; padding is -100). Special tokens are the tokenizer's own, as
    VL-PET's ``tokenizer.encode`` adds them.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    source_len, target_len = _limits(items, max_source_len, max_target_len)
    source = _tokenize(tokenizer, [item.example.source_text for item in items], source_len)
    batch: dict[str, Any] = {
        "input_ids": source["input_ids"],
        "attention_mask": source["attention_mask"],
        "visual_feats": _stack_visual(items),
        "loss_weights": torch.tensor([item.target_weight for item in items], dtype=torch.float32),
        "task": items[0].example.task,
        "examples": [item.example for item in items],
    }
    if all(item.target_text is not None for item in items):
        target = _tokenize(tokenizer, [item.target_text for item in items], target_len)
        batch["labels"] = target["input_ids"].masked_fill(target["attention_mask"] == 0, -100)
    return batch
