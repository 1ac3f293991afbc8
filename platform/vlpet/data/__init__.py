"""VL-Adapter / VL-PET datasets read from the files users already have (data_formats.md), as text-to-text.

``TASKS`` maps a task name to its record (loader, splits, prompt, metric, batch ratio, ...; see ``TaskSpec``);
``build_dataset`` adds the feature stores; ``collate`` tokenizes a batch; ``RoundRobinMixer`` interleaves tasks
as the paper does; ``resolve_backbone`` turns ``<task>:<name>`` into the checkpoint the task pretrained.

The names below are loaded on first use (PEP 562), so that reading the task records (what a trial config does)
does not import transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CLIP_FEATURE_DIMS": "vlpet.data.features",
    "CachedStore": "vlpet.data.features",
    "FeatureStore": "vlpet.data.features",
    "H5FeatureStore": "vlpet.data.features",
    "NpzVideoStore": "vlpet.data.features",
    "RoundRobinMixer": "vlpet.data.multitask",
    "TASKS": "vlpet.data.registry",
    "TaskBatch": "vlpet.data.multitask",
    "TaskSpec": "vlpet.data.registry",
    "VLDataset": "vlpet.data.dataset",
    "VLExample": "vlpet.data.example",
    "VLItem": "vlpet.data.dataset",
    "VideoTask": "vlpet.data.video",
    "build_dataset": "vlpet.data.registry",
    "caption_examples": "vlpet.data.caption",
    "collate": "vlpet.data.batching",
    "feature_stores": "vlpet.data.features",
    "get_task": "vlpet.data.registry",
    "gqa_examples": "vlpet.data.gqa",
    "load_answer_vocab": "vlpet.data.vqa",
    "load_caption": "vlpet.data.caption",
    "load_gqa": "vlpet.data.gqa",
    "load_how2qa": "vlpet.data.video",
    "load_nlvr": "vlpet.data.nlvr",
    "load_tvc": "vlpet.data.video",
    "load_tvqa": "vlpet.data.video",
    "load_vqa": "vlpet.data.vqa",
    "load_yc2c": "vlpet.data.video",
    "nlvr_examples": "vlpet.data.nlvr",
    "paper_batch_sizes": "vlpet.data.multitask",
    "read_official_annotations": "vlpet.data.vqa",
    "read_subtitles": "vlpet.data.video",
    "resize_frames": "vlpet.data.features",
    "resolve_backbone": "vlpet.data.registry",
    "vqa_examples": "vlpet.data.vqa",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vlpet.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
