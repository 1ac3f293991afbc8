"""Evaluation by generation: decode every evaluation example, score it with the task's metric."""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from vlpet.errors import ConfigError
from vlpet.train.runtime import Runtime
from vlpet.trial_config import TrialConfig


def model_inputs(batch: dict, runtime: Runtime, text_only: bool) -> dict[str, torch.Tensor]:
    """The tensors the VL model takes, moved to the runtime's device."""
    inputs = {k: batch[k].to(runtime.device) for k in ("input_ids", "attention_mask", "visual_feats", "labels")
              if k in batch}
    if text_only:
        inputs["visual_feats"] = None
    return inputs


@torch.no_grad()
def predict(model, data, task: str, config: TrialConfig, runtime: Runtime, split: str = "val") -> dict[str, str]:
    """Example id → generated text for ``task``'s ``split`` (the task's beam size unless the trial sets one)."""
    model.eval()
    predictions: dict[str, str] = {}
    for batch in data.eval_batches(task, split):
        inputs = model_inputs(batch, runtime, config.text_only)
        inputs.pop("labels", None)
        with runtime.autocast():
            ids = model.generate(**inputs, num_beams=data.num_beams(task), max_new_tokens=data.max_new_tokens(task),
                                 do_sample=False)
        texts = data.tokenizer.batch_decode(ids, skip_special_tokens=True)
        predictions.update({e.example_id: t.strip() for e, t in zip(batch["examples"], texts)})
    return predictions


def _choice_prefix(tokenizer, word: str) -> tuple[list[int], int]:
    """Token ids the tokenizer puts before ``word`` in a target (e.g. BART's <s>) and the word's first id."""
    with_specials = tokenizer(word)["input_ids"]
    word_id = tokenizer(word, add_special_tokens=False)["input_ids"][0]
    return with_specials[: with_specials.index(word_id)], word_id


@torch.no_grad()
def predict_choice(model, data, task: str, config: TrialConfig, runtime: Runtime,
                   split: str = "val") -> dict[str, str]:
    """A task with choice words (NLVR2's "true"/"false") as the paper's code scores it: compare the words' scores
    at the first decoding step of the answer, instead of free generation."""
    model.eval()
    words = data.choices(task)
    prefixes = [_choice_prefix(data.tokenizer, word) for word in words]
    prefix, choice_ids = prefixes[0][0], [word_id for _, word_id in prefixes]
    if len(set(choice_ids)) < len(choice_ids) or data.tokenizer.unk_token_id in choice_ids:
        raise ConfigError(f"task {task}: the tokenizer has no distinct tokens for the answers {words}")
    start = model.backbone.config.decoder_start_token_id
    predictions: dict[str, str] = {}
    for batch in data.eval_batches(task, split):
        inputs = model_inputs(batch, runtime, config.text_only)
        inputs.pop("labels", None)
        decoder_ids = torch.tensor([[start, *prefix]], device=runtime.device).expand(len(batch["examples"]), -1)
        with runtime.autocast():
            logits = model(**inputs, decoder_input_ids=decoder_ids).logits[:, -1, choice_ids]
        picks = logits.argmax(dim=-1).tolist()
        predictions.update({e.example_id: words[p] for e, p in zip(batch["examples"], picks)})
    return predictions


def evaluate_model(model, data, config: TrialConfig, runtime: Runtime, split: str = "val",
                   predictions_dir: str | None = None) -> dict[str, Any]:
    """Per-task metrics plus ``metric`` (the primary metric; the mean over tasks when there are several) and
    ``metric_name``, on ``split``. A split whose labels are hidden (some benchmarks' test files) is not scored:
    its predictions are written to ``predictions_dir/<split>_<task>.json`` for the benchmark's own server."""
    results: dict[str, Any] = {}
    primaries = []
    for task in config.tasks:
        predictor = predict_choice if data.choices(task) else predict
        predictions = predictor(model, data, task, config, runtime, split)
        if not data.has_labels(task, split):
            results[f"{task}_predictions"] = write_predictions(predictions, predictions_dir, f"{split}_{task}")
            continue
        scores = data.score(task, predictions, split)
        primaries.append((scores["metric_name"], scores["metric"]))
        results.update({k: v for k, v in scores.items() if k not in ("metric", "metric_name")})
    if len(primaries) == 1:
        results["metric_name"], results["metric"] = primaries[0]
    elif primaries:
        results["metric_name"] = "mean(" + ",".join(name for name, _ in primaries) + ")"
        results["metric"] = sum(value for _, value in primaries) / len(primaries)
    return results


def held_out_metrics(model, data, config: TrialConfig, runtime: Runtime, predictions_dir: str | None) -> dict[str, Any]:
    """The held-out test evaluation, every key prefixed ``test_`` (so it never reads as a validation metric)."""
    return {f"test_{key}": value
            for key, value in evaluate_model(model, data, config, runtime, "test", predictions_dir).items()}


def write_predictions(predictions: dict[str, str], directory: str | None, name: str) -> str | None:
    """Write ``{example_id: text}`` whole (temporary file, then rename) as ``directory/name.json``."""
    if directory is None:
        return None
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(predictions, handle, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path
