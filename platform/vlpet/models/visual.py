"""The visual projector ("visual embedding") of VL-BART / VL-T5 (vlpet_spec §1.2). Always trainable."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class VisualProjector(nn.Module):
    """v = LN_a(W_f·feat + b_f) + LN_b(W_p·[box, area] + b_p) + E_img[image] + E_word[V − 1 − object].

    ``forward(feats, word_embedding, boxes=None)``: feats [B, I, N, F] (I images per example, N grid
    features each), optional boxes [B, I, N, 4] (zeros for CLIP grids), word_embedding the backbone's shared
    [V, d] weight (read, never copied). A square grid is max-pooled to ``pool_grid``² tokens per image
    (``--n_boxes 36 --downsample``). Returns [B, I·N', d] and a mask [B, I·N'] of ones.
    LN_a/LN_b are the backbone family's norm class ``norm_type(d_model, eps=eps)``: LayerNorm for BART, T5's RMS
    norm for T5.
    """

    component = "visual projector"

    def __init__(self, feat_dim: int, d_model: int, norm_type: type[nn.Module] = nn.LayerNorm, pool_grid: int | None = 6,
                 eps: float = 1e-5, max_images: int = 2) -> None:
        super().__init__()
        self.pool_grid = pool_grid
        self.feat_proj = nn.Linear(feat_dim, d_model)
        self.feat_norm = norm_type(d_model, eps=eps)
        self.box_proj = nn.Linear(5, d_model)
        self.box_norm = norm_type(d_model, eps=eps)
        self.image_order = nn.Embedding(max_images, d_model)

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        """[B, I, N, F] → [B, I, N', F] by adaptive max pooling of the √N×√N grid to pool_grid×pool_grid."""
        batch, images, tokens, dim = feats.shape
        side = math.isqrt(tokens)
        if self.pool_grid is None or tokens == self.pool_grid**2:
            return feats
        if side * side != tokens:
            raise ValueError(f"cannot pool {tokens} visual tokens to a {self.pool_grid}x{self.pool_grid} grid: not square")
        grid = feats.reshape(batch * images, side, side, dim).permute(0, 3, 1, 2)
        pooled = F.adaptive_max_pool2d(grid, self.pool_grid)
        return pooled.permute(0, 2, 3, 1).reshape(batch, images, self.pool_grid**2, dim)

    def forward(self, feats: torch.Tensor, word_embedding: torch.Tensor,
                boxes: torch.Tensor | None = None) -> torch.Tensor:
        if feats.dim() == 3:
            feats = feats.unsqueeze(1)
        feats = self.pool(feats.to(self.feat_proj.weight.dtype))
        batch, images, tokens, _ = feats.shape
        if boxes is None or boxes.shape[2] != tokens:
            boxes = feats.new_zeros(batch, images, tokens, 4)
        area = (boxes[..., 3] - boxes[..., 1]) * (boxes[..., 2] - boxes[..., 0])
        position = torch.cat([boxes, area.unsqueeze(-1)], dim=-1)
        image_ids = torch.arange(images, device=feats.device).view(1, images, 1)
        object_ids = word_embedding.shape[0] - 1 - torch.arange(tokens, device=feats.device).view(1, 1, tokens)
        embedded = (
            self.feat_norm(self.feat_proj(feats))
            + self.box_norm(self.box_proj(position))
            + self.image_order(image_ids)
            + F.embedding(object_ids, word_embedding)
        )
        return embedded.reshape(batch, images * tokens, -1)
