"""Shared fixtures. Tests build models from configs with random weights (no hub access)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("VLPET_CACHE", os.path.join(REPO, ".cache", "test"))
torch.set_num_threads(2)

from vlpet.testing import TINY_BACKBONES, tiny_batch  # noqa: E402,F401  (re-exported for the tests)


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return tiny_batch()
