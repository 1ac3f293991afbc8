"""A torch Dataset over VLExamples that attaches visual features, as float32 tensors [I, N, F]."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vlpet.data.example import VLExample
from vlpet.data.features import FeatureStore
from vlpet.errors import DataError


@dataclass(frozen=True)
class VLItem:
    """One dataset item: the example, its features [I, N, F] float32, the target used this epoch and its loss
    weight (the soft score of a sampled VQA answer; 1.0 for tasks without soft labels)."""

    example: VLExample
    visual_feats: torch.Tensor
    target_text: str | None
    target_weight: float


class VLDataset(Dataset):
    """Examples of one task plus the feature stores their ``feature_source`` names.

    ``sample_targets``: draw the target with probability ∝ score from ``target_choices`` on every access,
    as VL-PET does for VQA/GQA training (P:src/vqa_clip_data.py L269-295); the draw is seeded by
    (seed, epoch, index), so call ``set_epoch`` each epoch. Otherwise the highest-scoring choice is used.
    ``validate``: "exists" checks at construction that every feature file exists and fully reads the first
    example's features (key, shape); "none" skips that. Missing or malformed files raise DataError.
    """

    def __init__(self, examples: Sequence[VLExample], stores: Mapping[str, FeatureStore],
                 sample_targets: bool = False, seed: int = 0, validate: str = "exists") -> None:
        if validate not in ("exists", "none"):
            raise ValueError(f"validate must be 'exists' or 'none', got {validate!r}")
        self.examples = list(examples)
        self.stores = dict(stores)
        self.sample_targets = sample_targets
        self.seed = seed
        self.epoch = 0
        if validate == "exists":
            self._validate()

    def _store(self, example: VLExample) -> FeatureStore:
        if example.feature_source not in self.stores:
            raise DataError(f"example {example.example_id!r} ({example.task}) needs feature store "
                            f"{example.feature_source!r}; available: {sorted(self.stores)}")
        return self.stores[example.feature_source]

    def _validate(self) -> None:
        paths = {self._store(e).path(key) for e in self.examples for key in e.image_ids}
        missing = sorted(str(path) for path in paths if not path.is_file())
        if missing:
            raise DataError(f"{len(missing)} feature file(s) do not exist, e.g. {missing[:3]}")
        if self.examples:
            self.features(self.examples[0])

    def set_epoch(self, epoch: int) -> None:
        """Re-seed target sampling for a new epoch."""
        self.epoch = epoch

    def features(self, example: VLExample) -> torch.Tensor:
        """The example's features stacked over its images: float32 [I, N, F]."""
        store = self._store(example)
        arrays = [store.load(key) for key in example.image_ids]
        if len({array.shape for array in arrays}) > 1:
            raise DataError(f"example {example.example_id!r}: its images have different feature shapes "
                            f"{[array.shape for array in arrays]} ({[str(store.path(k)) for k in example.image_ids]})")
        return torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))

    def target(self, index: int) -> tuple[str | None, float]:
        """The target text and loss weight of example ``index`` for the current epoch."""
        example = self.examples[index]
        if not example.target_choices:
            return example.target_text, 1.0
        answers, scores = zip(*example.target_choices)
        total = float(sum(scores))
        if self.sample_targets and total > 0:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            pick = int(rng.choice(len(answers), p=np.asarray(scores, dtype=np.float64) / total))
        else:
            pick = int(np.argmax(scores))
        return answers[pick], float(scores[pick])

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> VLItem:
        example = self.examples[index]
        target, weight = self.target(index)
        return VLItem(example, self.features(example), target, weight)
