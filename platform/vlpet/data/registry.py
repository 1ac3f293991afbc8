"""The task records: one ``TaskSpec`` per task, holding everything vlpet knows about it, and the dataset builder.

The data pipeline, multitask batching, the metrics and evaluation all read these records; adding a task is
adding one record (and its loader). Every loader has the signature ``load(root, split, prompt) ->
list[VLExample]`` where ``root`` is the VL-PET ``datasets/`` directory (data_formats.md §1.0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlpet.data.caption import load_caption
from vlpet.data.dataset import VLDataset
from vlpet.data.example import VLExample
from vlpet.data.features import FeatureStore, feature_stores
from vlpet.data.gqa import load_gqa
from vlpet.data.nlvr import ANSWERS as NLVR_ANSWERS
from vlpet.data.nlvr import load_nlvr
from vlpet.data.quickstart import prepare_quickstart, quickstart_backbone, quickstart_stores, quickstart_tokenizer
from vlpet.data.video import load_how2qa, load_tvc, load_tvqa, load_yc2c
from vlpet.data.vqa import load_vqa
from vlpet.errors import ConfigError, DataError


@dataclass(frozen=True)
class TaskSpec:
    """One task. ``load(root, split, prompt)``: its loader. ``splits``: the paper's file split for each role
    (train/val/test; None: the paper has none). ``prompt``: the text before every input (VL-PET's
    ``--use_tasks_prompts``). ``metric``: the primary metric key (higher is better), reported by ``evaluator``
    (a key of ``vlpet.metrics.EVALUATORS``). ``max_source_len``/``max_target_len``: the paper's token
    truncation (None: none). ``batch_ratio``: the multitask batch size is ⌊B·ratio/60⌋. ``choices``: answers
    scored by comparing their first-token scores instead of generating. ``max_new_tokens``: generation length;
    ``num_beams``: its beam size (the official code decodes question answering greedily, captions with 5 beams).
    ``images``: images per example (I). ``stores(root, feature_type=, n_tokens=, n_frames=)``: its feature
    stores. ``default_root()``: its data root when a trial gives no data_dir (None: data_dir is required).
    ``tokenizer(architecture)``: its own tokenizer for a known architecture with random weights.
    ``pretrained(architecture)``: that architecture pretrained on its text, the backbone ``<task>:<name>``.
    ``majority_baseline``: also report the score of always giving the most frequent training answer.
    ``feature_grid``: the side of the square grid its feature stores give (7: CLIP RN101's 7×7 grid and the
    quickstart's patches; 8: video's 64 frames), the largest ``visual_grid`` that pooling can make of it.
    """

    name: str
    load: Callable[..., list[VLExample]]
    splits: dict[str, str | None]
    prompt: str
    metric: str
    evaluator: str
    max_source_len: int | None
    max_target_len: int | None
    batch_ratio: int = 60
    choices: tuple[str, ...] = ()
    max_new_tokens: int = 20
    num_beams: int = 1
    images: int = 1
    modality: str = "image"
    stores: Callable[..., dict[str, FeatureStore]] = feature_stores
    default_root: Callable[[], Path] | None = None
    tokenizer: Callable[[str], Any] | None = None
    pretrained: Callable[[str], Path] | None = None
    majority_baseline: bool = False
    feature_grid: int = 7

    def reported_metrics(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(names, prefixes) of the numeric metrics each of this task's evaluations reports: its evaluator's keys
        (``vqa_acc``, ...), ``n_examples`` and the majority baseline; a prefix covers keys reported when the data
        has what they need (``vqa_acc_<answer type>``, ``tvqa_acc_<show>``, ``vqa_label_acc``)."""
        names, prefixes = _EVALUATOR_METRICS[self.evaluator](self.name)
        return (*names, "n_examples", *(("majority_baseline",) if self.majority_baseline else ())), prefixes

    def read(self, root: str | Path, split: str) -> list[VLExample]:
        """The examples of file split ``split`` under ``root``, with this task's prompt."""
        return self.load(root, split, self.prompt)

    def annotations(self, root: str | Path) -> Path:
        """Where under the data root ``root`` its loader reads the annotation files (a folder or a file)."""
        return Path(root) / _ANNOTATIONS.get(self.name, f"video/ann/{self.name}")

    def data_root(self, data_dir: str | Path | None) -> Path:
        """``data_dir`` when given, else the task's own default location."""
        if data_dir:
            return Path(data_dir)
        if self.default_root is None:
            raise ConfigError(f"task {self.name!r} needs data_dir: the root of the VL-Adapter datasets/ layout")
        return self.default_root()


# evaluator → task → (metric names it always reports, prefixes of those it reports when the data has them:
# answer types, shows, soft labels), as vlpet.metrics.tasks computes them; tests/reliability/test_run_validation.py
# checks them against a real trial's evaluation.
_EVALUATOR_METRICS: dict[str, Callable[[str], tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "vqa": lambda task: (("vqa_acc",), ("vqa_acc_", "vqa_label_acc")),
    "gqa": lambda task: (("gqa_acc",), ()),
    "nlvr": lambda task: (("nlvr_acc", "nlvr_consistency"), ()),
    "caption": lambda task: (("cider",), ()),
    "video_qa": lambda task: ((f"{task}_acc",), (f"{task}_acc_",)),
    "video_caption": lambda task: ((f"{task}_cider",), ()),
}
# task → its annotations under the data root, as its loader reads them (video tasks: video/ann/<task>).
_ANNOTATIONS = {"vqa": "vqa", "quickstart": "vqa", "gqa": "GQA", "nlvr": "nlvr", "caption": "COCO/dataset_coco.json"}
_VIDEO_SPLITS = {"train": "train_release", "val": "val_release", "test": "test_release"}

# Prompts: P:src/multitask.py L697-706, P:src/multitask_video.py L745-754. "gpa: " for GQA is the paper's typo,
# kept on purpose so that inputs match the published runs (data_formats.md §2). Batch ratios: P:src/multitask.py
# L682-695 (video tasks all use B). Generation length: 40 for captions, 20 otherwise.
_RECORDS = (
    TaskSpec("vqa", load_vqa, {"train": "karpathy_train", "val": "karpathy_val", "test": "karpathy_test"},
             "vqa: ", "vqa_acc", "vqa", 20, 10),
    # GQA has no test pass in the paper: its reported number is testdev, used as the validation split.
    TaskSpec("gqa", load_gqa, {"train": "train,valid", "val": "testdev", "test": None}, "gpa: ", "gqa_acc", "gqa",
             20, None, batch_ratio=100),
    TaskSpec("nlvr", load_nlvr, {"train": "train", "val": "valid", "test": "test"}, "nlvr: ", "nlvr_acc", "nlvr",
             None, None, batch_ratio=20, choices=NLVR_ANSWERS, images=2),
    TaskSpec("caption", load_caption, {"train": "train", "val": "val", "test": "test"}, "caption: ", "cider",
             "caption", 20, 40, batch_ratio=50, max_new_tokens=40, num_beams=5),
    TaskSpec("tvqa", load_tvqa, {"train": "train", "val": "val", "test": "test_public,test_release"}, "tvqa: ",
             "tvqa_acc", "video_qa", 600, 20, modality="video", feature_grid=8),
    TaskSpec("how2qa", load_how2qa, {**_VIDEO_SPLITS, "test": "test_public_release"}, "how2qa: ", "how2qa_acc",
             "video_qa", 600, 20, modality="video", feature_grid=8),
    TaskSpec("tvc", load_tvc, dict(_VIDEO_SPLITS), "tvc: ", "tvc_cider", "video_caption", 600, 20,
             max_new_tokens=40, num_beams=5, modality="video", feature_grid=8),
    TaskSpec("yc2c", load_yc2c, dict(_VIDEO_SPLITS), "yc2c: ", "yc2c_cider", "video_caption", 600, 20,
             max_new_tokens=40, num_beams=5, modality="video", feature_grid=8),
    # The offline quickstart (vlpet.data.quickstart): easy-vqa in the VQAv2 layout, prepared on first use,
    # scored as VQA; it brings a word-level tokenizer and tiny backbones pretrained on its text.
    TaskSpec("quickstart", load_vqa, {"train": "karpathy_train", "val": "karpathy_val", "test": "karpathy_test"},
             "vqa: ", "vqa_acc", "vqa", 20, 10, stores=quickstart_stores, default_root=prepare_quickstart,
             tokenizer=quickstart_tokenizer, pretrained=quickstart_backbone, majority_baseline=True),
)
TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _RECORDS}


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; unknown names raise DataError listing the known ones."""
    if name not in TASKS:
        raise DataError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name]


def resolve_backbone(backbone: str, weights: bool = True) -> str:
    """The backbone as the model loader takes it. ``<task>:<name>`` (e.g. ``quickstart:tiny-bart``) is the known
    architecture ``<name>`` pretrained on that task's text: the path of its checkpoint (pretrained on first use,
    then cached), or ``<name>`` itself when ``weights`` is False (counting on the meta device and random
    initialisation need the architecture only). Any other backbone is returned unchanged."""
    task, colon, name = backbone.partition(":")
    spec = TASKS.get(task) if colon else None
    if spec is None or spec.pretrained is None:
        return backbone
    return str(spec.pretrained(name)) if weights else name


def build_dataset(task: str, root: str | Path, split: str, feature_type: str = "RN101",
                  sample_targets: bool = False, seed: int = 0, validate: str = "exists",
                  n_tokens: int | None = None, n_frames: int = 64, limit: int | None = None,
                  prompt: str | None = None) -> VLDataset:
    """Load ``task``'s ``split`` under ``root`` (split may be "train"/"val"/"test", meaning the paper's
    split for that role, or a file split name) into a VLDataset with the task's feature stores. ``limit``
    keeps the first N examples, before their feature files are checked. ``prompt`` replaces the task's prompt
    (``""``: none, as the paper's BART full fine-tuning script ran)."""
    spec = get_task(task)
    examples = spec.load(root, spec.splits.get(split) or split, spec.prompt if prompt is None else prompt)[:limit]
    stores = spec.stores(root, feature_type=feature_type, n_tokens=n_tokens, n_frames=n_frames)
    return VLDataset(examples, stores, sample_targets, seed, validate)
