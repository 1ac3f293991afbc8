"""Test helpers shipped with vlpet, so a PET method kept outside the package can be checked the way the built-in
ones are: ``from vlpet.testing.conformance import MethodConformance`` (needs pytest)."""

from __future__ import annotations

TINY_BACKBONES = ("tiny-bart", "tiny-t5")


def tiny_batch(batch: int = 2, text_len: int = 5, target_len: int = 4, feat_dim: int = 16, tokens: int = 49,
               images: int = 1, seed: int = 0) -> dict:
    """A random VL batch for the tiny backbones (vocabulary 1,200): ids [B, L], mask [B, L], visual_feats
    [B, I, N, F], labels [B, Lo]."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 900, (batch, text_len), generator=generator)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "visual_feats": torch.randn(batch, images, tokens, feat_dim, generator=generator),
        "labels": torch.randint(3, 900, (batch, target_len), generator=generator),
    }
