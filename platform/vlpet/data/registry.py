"""The task registry: task name → loader, paper splits and text lengths; and the dataset builder.

Every loader has the signature ``load(root, split, prompt=PROMPTS[task]) -> list[VLExample]`` where ``root``
is the VL-PET ``datasets/`` directory (data_formats.md §1.0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vlpet.data.caption import load_caption
from vlpet.data.dataset import VLDataset
from vlpet.data.example import VLExample
from vlpet.data.features import CLIP_FEATURE_DIMS, FeatureStore, H5FeatureStore, NpzVideoStore
from vlpet.data.gqa import load_gqa
from vlpet.data.nlvr import load_nlvr
from vlpet.data.video import load_how2qa, load_tvc, load_tvqa, load_yc2c
from vlpet.data.vqa import load_vqa
from vlpet.errors import DataError


@dataclass(frozen=True)
class TaskSpec:
    """A registered task. ``splits``: the paper's train/val/test split strings. ``max_source_len``/
    ``max_target_len``: the paper's token truncation (None: none). ``images``: images per example (I)."""

    name: str
    load: Callable[..., list[VLExample]]
    splits: dict[str, str | None]
    max_source_len: int | None
    max_target_len: int | None
    images: int = 1
    modality: str = "image"


_VIDEO_SPLITS = {"train": "train_release", "val": "val_release", "test": "test_release"}

TASKS: dict[str, TaskSpec] = {
    "vqa": TaskSpec("vqa", load_vqa, {"train": "karpathy_train", "val": "karpathy_val", "test": "karpathy_test"},
                    20, 10),
    # GQA has no test pass in the paper: its reported number is testdev, used as the validation split.
    "gqa": TaskSpec("gqa", load_gqa, {"train": "train,valid", "val": "testdev", "test": None}, 20, None),
    "nlvr": TaskSpec("nlvr", load_nlvr, {"train": "train", "val": "valid", "test": "test"}, None, None, images=2),
    "caption": TaskSpec("caption", load_caption, {"train": "train", "val": "val", "test": "test"}, 20, 40),
    "tvqa": TaskSpec("tvqa", load_tvqa, {"train": "train", "val": "val", "test": "test_public,test_release"},
                     600, 20, modality="video"),
    "how2qa": TaskSpec("how2qa", load_how2qa, {**_VIDEO_SPLITS, "test": "test_public_release"}, 600, 20,
                       modality="video"),
    "tvc": TaskSpec("tvc", load_tvc, dict(_VIDEO_SPLITS), 600, 20, modality="video"),
    "yc2c": TaskSpec("yc2c", load_yc2c, dict(_VIDEO_SPLITS), 600, 20, modality="video"),
}


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; unknown names raise DataError listing the known ones."""
    if name not in TASKS:
        raise DataError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name]


def feature_stores(root: str | Path, feature_type: str = "RN101", n_tokens: int | None = None,
                   n_frames: int = 64) -> dict[str, FeatureStore]:
    """Every feature store of the VL-PET layout under ``root``, keyed by ``VLExample.feature_source``.

    Image stores read ``<X>/clip_features/data_clip_<feature_type>_att/<img_id>.h5`` with F checked against
    the CLIP variant (2048 for RN101) and N against ``n_tokens`` when given; video stores read
    ``video/vis_features/<src>/clip-vit/<vid_name>.npz`` (F = 512), resized to ``n_frames``.
    """
    if feature_type not in CLIP_FEATURE_DIMS:
        raise DataError(f"unknown CLIP feature type {feature_type!r}; known: {sorted(CLIP_FEATURE_DIMS)}")
    root = Path(root)
    dim = CLIP_FEATURE_DIMS[feature_type]
    stores: dict[str, FeatureStore] = {
        source: H5FeatureStore(root / source / "clip_features" / f"data_clip_{feature_type}_att", dim, n_tokens)
        for source in ("COCO", "VG", "GQA", "nlvr")
    }
    for source in ("tv", "how2", "yc2"):
        stores[source] = NpzVideoStore(root / "video" / "vis_features" / source / "clip-vit", 512, n_frames)
    return stores


def build_dataset(task: str, root: str | Path, split: str, feature_type: str = "RN101",
                  sample_targets: bool = False, seed: int = 0, validate: str = "exists",
                  n_tokens: int | None = None, n_frames: int = 64, limit: int | None = None) -> VLDataset:
    """Load ``task``'s ``split`` under ``root`` (split may be "train"/"val"/"test", meaning the paper's
    split for that role, or a file split name) into a VLDataset with the matching feature stores. ``limit``
    keeps the first N examples, before their feature files are checked."""
    spec = get_task(task)
    split = spec.splits.get(split) or split
    examples = spec.load(root, split)[:limit]
    return VLDataset(examples, feature_stores(root, feature_type, n_tokens, n_frames), sample_targets, seed,
                     validate)
