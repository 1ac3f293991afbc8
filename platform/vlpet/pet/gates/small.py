"""Small granularity: one scalar per example (vlpet_spec §2.2, 2d+1 parameters)."""

from __future__ import annotations

import torch
from torch import nn

from vlpet.pet.base import init_linear
from vlpet.pet.gates.base import Gate, register_gate


@register_gate("small")
class SmallGate(Gate):
    """g = σ(w·[X ; H'] + b) per token, G = mean of g over the token axis → [B, 1, 1]."""

    def __init__(self, d_model: int, gate_bottleneck: int | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * d_model, 1)

    def forward(self, x: torch.Tensor, h_adapted: torch.Tensor) -> torch.Tensor:
        per_token = torch.sigmoid(self.proj(torch.cat([x, h_adapted], dim=-1)))
        return per_token.mean(dim=1, keepdim=True)

    def reset_parameters(self, scheme: str) -> None:
        init_linear(self.proj, scheme, zero=scheme == "zero_up")
