"""VL-Adapter / VL-PET datasets read from the files users already have (data_formats.md), as text-to-text.

``TASKS`` maps a task name to its record (loader, splits, prompt, metric, batch ratio, ...; see ``TaskSpec``);
``build_dataset`` adds the feature stores; ``collate`` tokenizes a batch; ``RoundRobinMixer`` interleaves tasks
as the paper does; ``resolve_backbone`` turns ``<task>:<name>`` into the checkpoint the task pretrained.
"""

from vlpet.data.caption import caption_examples, load_caption
from vlpet.data.collate import collate
from vlpet.data.dataset import VLDataset, VLItem
from vlpet.data.example import VLExample
from vlpet.data.features import (CLIP_FEATURE_DIMS, CachedStore, FeatureStore, H5FeatureStore, NpzVideoStore,
                                 feature_stores, resize_frames)
from vlpet.data.gqa import gqa_examples, load_gqa
from vlpet.data.multitask import RoundRobinMixer, TaskBatch, paper_batch_sizes
from vlpet.data.nlvr import load_nlvr, nlvr_examples
from vlpet.data.registry import TASKS, TaskSpec, build_dataset, get_task, resolve_backbone
from vlpet.data.video import VideoTask, load_how2qa, load_tvc, load_tvqa, load_yc2c, read_subtitles
from vlpet.data.vqa import load_answer_vocab, load_vqa, read_official_annotations, vqa_examples

__all__ = [
    "CLIP_FEATURE_DIMS", "TASKS",
    "CachedStore", "FeatureStore", "H5FeatureStore", "NpzVideoStore", "RoundRobinMixer", "TaskBatch", "TaskSpec",
    "VLDataset", "VLExample", "VLItem", "VideoTask",
    "build_dataset", "caption_examples", "collate", "feature_stores", "get_task", "gqa_examples",
    "load_answer_vocab", "load_caption", "load_gqa", "load_how2qa", "load_nlvr", "load_tvc", "load_tvqa",
    "load_vqa", "load_yc2c", "nlvr_examples", "paper_batch_sizes", "read_official_annotations",
    "read_subtitles", "resize_frames", "resolve_backbone", "vqa_examples",
]
