"""A trial's data: tokenizer, training batches in the paper's multitask order, evaluation batches, scoring.

Tasks come from ``vlpet.data`` (the VL-Adapter formats) plus ``quickstart``, the offline easy-vqa task written
in the VQAv2 layout (``vlpet.data.quickstart``). With several tasks, each step draws one task's batch
(round-robin mode, per-task batch sizes as in the paper).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from vlpet.data.collate import collate
from vlpet.data.dataset import VLDataset
from vlpet.data.features import H5FeatureStore
from vlpet.data.multitask import RoundRobinMixer, paper_batch_sizes
from vlpet.data.registry import TASKS, build_dataset, get_task
from vlpet.errors import ConfigError, DataError
from vlpet.models.backbones import BACKBONES, QUICKSTART_PREFIX, extend_tokenizer
from vlpet.trial_config import TrialConfig

QUICKSTART_TASKS = {"quickstart": ("vqa", "karpathy_train", "karpathy_val")}


class CachedStore:
    """Keeps loaded feature arrays in memory (images repeat across questions; files are read once)."""

    def __init__(self, store) -> None:
        self.store, self.cache = store, {}

    def path(self, key: str) -> Path:
        return self.store.path(key)

    def load(self, key: str):
        if key not in self.cache:
            self.cache[key] = self.store.load(key)
        return self.cache[key]


def load_tokenizer(config: TrialConfig):
    """The backbone checkpoint's tokenizer extended with the VL tokens; the quickstart's word tokenizer for a
    randomly initialised tiny backbone on the quickstart task."""
    from transformers import AutoTokenizer

    backbone = config.backbone
    if backbone.startswith(QUICKSTART_PREFIX) or (backbone in BACKBONES and config.tasks == ["quickstart"]):
        from vlpet.data.quickstart import quickstart_tokenizer

        return quickstart_tokenizer(backbone.removeprefix(QUICKSTART_PREFIX))
    if backbone in BACKBONES:
        raise ConfigError(
            f"backbone {backbone!r} is an architecture with random weights and no tokenizer; for task "
            f"{config.task!r} give a checkpoint directory or hub name (e.g. facebook/bart-base)"
        )
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    extend_tokenizer(tokenizer)
    return tokenizer


def _quickstart_datasets(config: TrialConfig) -> tuple[VLDataset, VLDataset]:
    from vlpet.data.quickstart import FEATURE_DIR, FEAT_DIM, GRID, prepare_quickstart
    from vlpet.data.vqa import load_vqa

    root = Path(config.data_dir) if config.data_dir else prepare_quickstart()
    stores = {"COCO": CachedStore(H5FeatureStore(root / FEATURE_DIR, FEAT_DIM, GRID * GRID))}
    train = load_vqa(root, "karpathy_train")[: config.train_size]
    val = load_vqa(root, "karpathy_val")[: config.eval_size]
    return (VLDataset(train, stores, sample_targets=True, seed=config.seed), VLDataset(val, stores))


def _task_datasets(task: str, config: TrialConfig) -> tuple[VLDataset, VLDataset]:
    if task in QUICKSTART_TASKS:
        return _quickstart_datasets(config)
    if not config.data_dir:
        raise ConfigError(f"task {task!r} needs data_dir: the root of the VL-Adapter datasets/ layout")
    train = build_dataset(task, config.data_dir, "train", sample_targets=True, seed=config.seed,
                          limit=config.train_size)
    val = build_dataset(task, config.data_dir, "val", limit=config.eval_size)
    return train, val


def majority_baseline(train: VLDataset, val: VLDataset, task: str) -> dict[str, Any]:
    """Accuracy of always answering the most frequent training target."""
    from vlpet.metrics import evaluate_task

    answer = Counter(e.target_text for e in train.examples).most_common(1)[0][0]
    scored = evaluate_task(task, {e.example_id: answer for e in val.examples}, val.examples)
    return {"majority_answer": answer, "majority_baseline": scored["metric"]}


class TrialData:
    """Datasets, batching and scoring for one trial config."""

    def __init__(self, config: TrialConfig) -> None:
        self.config = config
        self.tokenizer = load_tokenizer(config)
        self.train_sets: dict[str, VLDataset] = {}
        self.eval_sets: dict[str, VLDataset] = {}
        for task in config.tasks:
            self.train_sets[task], self.eval_sets[task] = _task_datasets(task, config)
            for role, dataset in (("training", self.train_sets[task]), ("val", self.eval_sets[task])):
                if len(dataset) == 0:
                    raise DataError(f"task {task} has no {role} examples under {config.data_dir or 'the cache'}")
        self.metric_task = {t: QUICKSTART_TASKS.get(t, (t,))[0] for t in config.tasks}
        self.baselines = {t: majority_baseline(self.train_sets[t], self.eval_sets[t], self.metric_task[t])
                          for t in config.tasks if t in QUICKSTART_TASKS}
        sizes = paper_batch_sizes(config.batch_size, [self.metric_task[t] for t in config.tasks])
        self.mixer = RoundRobinMixer(self.train_sets, {t: sizes[self.metric_task[t]] for t in config.tasks},
                                     shuffle=True, seed=config.seed)

    def steps_per_epoch(self, world_size: int = 1) -> int:
        return len(self.mixer) // world_size

    def total_steps(self, world_size: int = 1) -> int:
        steps = self.config.epochs * self.steps_per_epoch(world_size)
        return min(steps, self.config.max_steps) if self.config.max_steps else steps

    def train_batches(self, epoch: int, rank: int = 0, world_size: int = 1, skip: int = 0) -> Iterator[dict]:
        """This rank's batches of ``epoch`` after the first ``skip`` (collated, on CPU)."""
        self.mixer.set_epoch(epoch)
        plan = self.mixer.plan(epoch)
        plan = plan[: self.steps_per_epoch(world_size) * world_size][rank::world_size]
        for step in plan[skip:]:
            dataset = self.train_sets[step.task]
            yield self._collate([dataset[i] for i in step.indices], step.task)

    def eval_batches(self, task: str) -> Iterator[dict]:
        dataset, size = self.eval_sets[task], self.config.eval_batch_size or self.config.batch_size
        for start in range(0, len(dataset), size):
            yield self._collate([dataset[i] for i in range(start, min(start + size, len(dataset)))], task)

    def _collate(self, items, task: str) -> dict:
        spec = TASKS.get(self.metric_task[task])
        return collate(items, self.tokenizer, spec.max_source_len if spec else None,
                       spec.max_target_len if spec else None)

    def max_new_tokens(self, task: str) -> int:
        return self.config.max_new_tokens or (40 if self.metric_task[task] in ("caption", "tvc", "yc2c") else 20)

    def score(self, task: str, predictions: dict[str, str]) -> dict[str, Any]:
        """The task's metrics for ``predictions`` (example id → text)."""
        from vlpet.metrics import evaluate_task

        return {**evaluate_task(self.metric_task[task], predictions, self.eval_sets[task].examples),
                **self.baselines.get(task, {})}

