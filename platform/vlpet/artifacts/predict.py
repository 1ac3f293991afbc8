"""``vlpet predict``: run an adapter on any split of a task and write what the task's official evaluation takes.

Formats (one entry per example): VQA and the quickstart ``[{question_id, answer}]`` (EvalAI); GQA
``[{questionId, prediction}]``; COCO captions ``[{image_id, caption}]``; NLVR2 CSV lines ``identifier,True|False``;
video QA (VALUE) ``[{qid, answer}]``; video captions (VALUE) ``[{clip_id, descs: [{desc}]}]``. Where the split has
labels the task's metrics are computed by the training loop's own evaluation (``evaluate_model``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from vlpet.errors import ConfigError


class SplitData:
    """One task's split in the interface ``vlpet.train.evaluate`` reads (batches, beams, choices, scoring)."""

    def __init__(self, config, task: str, split: str, tokenizer, limit: int | None = None) -> None:
        from vlpet.data.registry import build_dataset, get_task

        self.config, self.task, self.split_name, self.tokenizer = config, task, split, tokenizer
        self.spec = get_task(task)
        root = self.spec.data_root(config.data_dir)
        if split in self.spec.splits and self.spec.splits[split] is None:
            split = "val"  # a task tested on its validation split (GQA: testdev), as the training loop does
        self.dataset = build_dataset(task, root, split, limit=limit, prompt=None if config.task_prompts else "")
        if len(self.dataset) == 0:
            raise ConfigError(f"task {task} has no {split} examples under {root}")

    def split(self, task: str, split: str = "val"):
        return self.dataset

    def has_labels(self, task: str, split: str = "val") -> bool:
        return any(e.target_text is not None or e.references for e in self.dataset.examples)

    def eval_batches(self, task: str, split: str = "val"):
        from vlpet.data.batching import collate
        from vlpet.train.data_pipeline import check_finite_features

        size = self.config.eval_batch_size or self.config.batch_size
        for start in range(0, len(self.dataset), size):
            items = [self.dataset[i] for i in range(start, min(start + size, len(self.dataset)))]
            batch = collate(items, self.tokenizer, self.spec.max_source_len, self.spec.max_target_len)
            if not self.config.text_only:
                check_finite_features(batch, self.dataset, f"{task} {self.split_name} split")
            yield batch

    def max_new_tokens(self, task: str) -> int:
        return self.config.max_new_tokens or self.spec.max_new_tokens

    def num_beams(self, task: str) -> int:
        return self.config.num_beams or self.spec.num_beams

    def choices(self, task: str) -> tuple[str, ...]:
        return self.spec.choices

    def score(self, task: str, predictions: dict[str, str], split: str = "val") -> dict[str, Any]:
        from vlpet.metrics import evaluate_task

        return evaluate_task(task, predictions, self.dataset.examples)


def predict_split(model, task: str, split: str, data_dir: str | None = None, limit: int | None = None,
                  tokenizer_dir: str | None = None, device: str | None = None, progress: bool = False):
    """(predictions {example id: text}, metrics or None where the split has no labels, the SplitData)."""
    from vlpet.trial_config import TrialConfig
    from vlpet.train.data_pipeline import load_tokenizer
    from vlpet.train.evaluate import predict, predict_choice
    from vlpet.train.runtime import local_runtime

    config = TrialConfig.from_dict({**model.trial_config.to_dict(), "task": task,
                                    "data_dir": data_dir or model.trial_config.data_dir})
    tokenizer = _tokenizer(config, tokenizer_dir, load_tokenizer)
    data = SplitData(config, task, split, tokenizer, limit)
    runtime = local_runtime(config.precision)
    if device:
        import dataclasses

        import torch

        runtime = dataclasses.replace(runtime, device=torch.device(device))
    model.to(runtime.device)
    predictor = predict_choice if data.choices(task) else predict
    predictions = predictor(model, _Progress(data, progress), task, config, runtime, split)
    if not data.has_labels(task, split):
        return predictions, None, data
    scores = data.score(task, predictions, split)
    return predictions, scores, data


def _tokenizer(config, tokenizer_dir: str | None, load_tokenizer):
    if tokenizer_dir and os.path.isdir(tokenizer_dir):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tokenizer_dir)
    return load_tokenizer(config)


class _Progress:
    """``data`` whose evaluation batches advance a progress bar (stderr)."""

    def __init__(self, data: SplitData, enabled: bool) -> None:
        self.data, self.enabled = data, enabled

    def __getattr__(self, name: str):
        return getattr(self.data, name)

    def eval_batches(self, task: str, split: str = "val"):
        batches = self.data.eval_batches(task, split)
        if not self.enabled:
            yield from batches
            return
        from tqdm.auto import tqdm

        size = self.data.config.eval_batch_size or self.data.config.batch_size
        yield from tqdm(batches, total=-(-len(self.data.dataset) // size), unit="batch", desc="predict")


def official(task: str, predictions: dict[str, str], examples) -> tuple[str, str]:
    """(text, kind) of the predictions in ``task``'s official submission format, in the split's example order."""
    evaluator = _evaluator(task)
    ordered = [(e, predictions[e.example_id]) for e in examples if e.example_id in predictions]
    if evaluator == "vqa":
        rows = [{"question_id": _number(e.example_id), "answer": p} for e, p in ordered]
    elif evaluator == "gqa":
        rows = [{"questionId": e.example_id, "prediction": p} for e, p in ordered]
    elif evaluator == "caption":
        rows = [{"image_id": _coco_id(e.image_ids[0]), "caption": p} for e, p in _one_per(ordered, "image")]
    elif evaluator == "nlvr":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for e, p in ordered:
            writer.writerow([e.example_id, "True" if p.strip().lower() == "true" else "False"])
        return buffer.getvalue(), "csv"
    elif evaluator == "video_qa":
        rows = [{"qid": _number(e.example_id), "answer": p} for e, p in ordered]
    else:  # video captions: one entry per clip
        rows = [{"clip_id": e.references.get("clip_id", e.example_id), "descs": [{"desc": p}]}
                for e, p in _one_per(ordered, "clip")]
    return json.dumps(rows, indent=1), "json"


def _evaluator(task: str) -> str:
    from vlpet.data.registry import get_task

    return get_task(task).evaluator


def _one_per(ordered, what: str):
    """The first prediction of each image (COCO) or clip (VALUE): test splits list one example per reference."""
    seen, kept = set(), []
    for example, text in ordered:
        key = example.image_ids[0] if what == "image" else example.references.get("clip_id", example.example_id)
        if key not in seen:
            seen.add(key)
            kept.append((example, text))
    return kept


def _number(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _coco_id(image_id: str) -> Any:
    """COCO's numeric image id from a feature key like ``COCO_val2014_000000000042``."""
    tail = image_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else image_id


def write_whole(path: str, text: str) -> str:
    """Write ``text`` to ``path`` under a temporary name, then rename."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"--out {path}: its directory does not exist")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
