"""A trial's data: tokenizer, training batches in the paper's multitask order, evaluation batches, scoring.

Everything task-specific comes from the task records of ``vlpet.data`` (``TaskSpec``): where the data is, its
feature stores, text lengths, batch ratio, generation length, choice words, metric and baseline. With several
tasks, each step draws one task's batch (round-robin mode, per-task batch sizes as in the paper).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

import torch

from vlpet.data.batching import collate
from vlpet.data.dataset import VLDataset
from vlpet.data.multitask import RoundRobinMixer, paper_batch_sizes
from vlpet.data.registry import build_dataset, get_task, resolve_backbone
from vlpet.errors import ConfigError, DataError
from vlpet.models.backbones import BACKBONES, extend_tokenizer
from vlpet.trial_config import TrialConfig


def load_tokenizer(config: TrialConfig):
    """The backbone checkpoint's tokenizer extended with the VL tokens (``<task>:<name>`` backbones resolve to
    their checkpoint first); for a known architecture with random weights, the task's own tokenizer."""
    from transformers import AutoTokenizer

    backbone = resolve_backbone(config.backbone)
    if backbone in BACKBONES:
        own = get_task(config.tasks[0]).tokenizer if len(config.tasks) == 1 else None
        if own is None:
            raise ConfigError(
                f"backbone {backbone!r} is an architecture with random weights and no tokenizer; for task "
                f"{config.task!r} give a checkpoint directory or hub name (e.g. facebook/bart-base)"
            )
        return own(backbone)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    extend_tokenizer(tokenizer)
    return tokenizer


def _task_datasets(task: str, config: TrialConfig) -> tuple[VLDataset, VLDataset]:
    root = get_task(task).data_root(config.data_dir)
    prompt = None if config.task_prompts else ""
    train = build_dataset(task, root, "train", sample_targets=True, seed=config.seed, limit=config.train_size,
                          prompt=prompt)
    val = build_dataset(task, root, "val", limit=config.eval_size, prompt=prompt)
    return train, val


def _test_dataset(task: str, config: TrialConfig, val: VLDataset) -> VLDataset:
    """The held-out split the trial's numbers are reported on; a task whose paper reports its validation
    split (GQA: testdev) is tested on that split."""
    spec = get_task(task)
    if spec.splits.get("test") is None:
        return val
    root = spec.data_root(config.data_dir)
    return build_dataset(task, root, "test", limit=config.eval_size, prompt=None if config.task_prompts else "")


def majority_baseline(train: VLDataset, val: VLDataset, task: str) -> dict[str, Any]:
    """Accuracy of always answering the most frequent training target."""
    from vlpet.metrics import evaluate_task

    answer = Counter(e.target_text for e in train.examples).most_common(1)[0][0]
    scored = evaluate_task(task, {e.example_id: answer for e in val.examples}, val.examples)
    return {"majority_answer": answer, "majority_baseline": scored["metric"]}


def check_finite_features(batch: dict, dataset: VLDataset, inputs: str) -> None:
    """Raise DataError, naming the feature file, image and row, where ``batch["visual_feats"]`` [B, I, N, F]
    holds a NaN or inf. Training meets such a value as a non-finite loss; evaluation would only generate garbage
    and score it 0 without a word. ``inputs`` names what the batch is (e.g. "vqa val split")."""
    bad = ~torch.isfinite(batch["visual_feats"])
    if not bool(bad.any()):
        return
    row, image, cell = (int(i) for i in bad.nonzero()[0][:3])
    example = batch["examples"][row]
    key = example.image_ids[image]
    store = dataset.stores.get(example.feature_source)
    where = f"feature file {store.path(key)}" if store is not None else f"the features of {example.feature_source}"
    raise DataError(f"{where}: image {key} has a non-finite value (NaN or inf) in feature row {cell}; it is an "
                    f"evaluation input ({inputs}, example {example.example_id}) and would be "
                    f"scored as a wrong answer: fix or regenerate that file")


class TrialData:
    """Datasets, batching and scoring for one trial config."""

    def __init__(self, config: TrialConfig) -> None:
        self.config = config
        self.tokenizer = load_tokenizer(config)
        self.train_sets: dict[str, VLDataset] = {}
        self.eval_sets: dict[str, VLDataset] = {}
        self.test_sets: dict[str, VLDataset] = {}  # loaded when the trial is tested (``split="test"``)
        for task in config.tasks:
            self.train_sets[task], self.eval_sets[task] = _task_datasets(task, config)
            roles = [("training", self.train_sets[task]), ("val", self.eval_sets[task])]
            if config.test_checkpoint != "none":  # the test files are read now, so a missing one is told early
                roles.append(("test", self.split(task, "test")))
            for role, dataset in roles:
                if len(dataset) == 0:
                    raise DataError(f"task {task} has no {role} examples under {config.data_dir or 'the cache'}")
        self.baselines = {t: majority_baseline(self.train_sets[t], self.eval_sets[t], t)
                          for t in config.tasks if get_task(t).majority_baseline}
        self.mixer = RoundRobinMixer(self.train_sets, paper_batch_sizes(config.batch_size, config.tasks),
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

    def split(self, task: str, split: str = "val") -> VLDataset:
        """``task``'s evaluation examples of ``split`` (``val``: model selection; ``test``: the reported numbers)."""
        if split == "val":
            return self.eval_sets[task]
        if task not in self.test_sets:
            self.test_sets[task] = _test_dataset(task, self.config, self.eval_sets[task])
        return self.test_sets[task]

    def has_labels(self, task: str, split: str = "val") -> bool:
        """Whether ``split`` can be scored here (test files of some benchmarks hide their labels)."""
        return any(e.target_text is not None or e.references for e in self.split(task, split).examples)

    def eval_batches(self, task: str, split: str = "val") -> Iterator[dict]:
        """``task``'s ``split`` in batches (collated, on CPU); a non-finite visual feature raises DataError."""
        dataset, size = self.split(task, split), self.config.eval_batch_size or self.config.batch_size
        for start in range(0, len(dataset), size):
            batch = self._collate([dataset[i] for i in range(start, min(start + size, len(dataset)))], task)
            if not self.config.text_only:
                check_finite_features(batch, dataset, f"{task} {split} split")
            yield batch

    def _collate(self, items, task: str) -> dict:
        spec = get_task(task)
        return collate(items, self.tokenizer, spec.max_source_len, spec.max_target_len)

    def max_new_tokens(self, task: str) -> int:
        return self.config.max_new_tokens or get_task(task).max_new_tokens

    def num_beams(self, task: str) -> int:
        """The trial's beam size, else the task's own (greedy for question answering, 5 beams for captions)."""
        return self.config.num_beams or get_task(task).num_beams

    def choices(self, task: str) -> tuple[str, ...]:
        """The answers ``task`` is scored on by comparing their first-token scores (empty: free generation)."""
        return get_task(task).choices

    def score(self, task: str, predictions: dict[str, str], split: str = "val") -> dict[str, Any]:
        """The task's metrics for ``predictions`` (example id → text) on ``split``."""
        from vlpet.metrics import evaluate_task

        scores = evaluate_task(task, predictions, self.split(task, split).examples)
        return {**scores, **self.baselines.get(task, {})} if split == "val" else scores

