"""Shared fixtures. Tests build models from configs with random weights (no hub access)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("VLPET_CACHE", os.path.join(REPO, ".cache", "test"))
torch.set_num_threads(2)

TINY_BACKBONES = ("tiny-bart", "tiny-t5")


def tiny_batch(batch: int = 2, text_len: int = 5, target_len: int = 4, feat_dim: int = 16, tokens: int = 49,
               images: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random VL batch for the tiny backbones (vocabulary 1,200)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 900, (batch, text_len), generator=generator)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "visual_feats": torch.randn(batch, images, tokens, feat_dim, generator=generator),
        "labels": torch.randint(3, 900, (batch, target_len), generator=generator),
    }


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return tiny_batch()
