"""MiddleX granularity: one scalar per token (vlpet_spec §2.2, d+1 parameters)."""

from __future__ import annotations

import torch
from torch import nn

from vlpet.pet.base import init_linear
from vlpet.pet.gates.base import Gate, register_gate


@register_gate("middleX")
class MiddleXGate(Gate):
    """G = σ(w·(X + H') + b) → [B, L, 1], broadcast over channels."""

    def __init__(self, d_model: int, gate_bottleneck: int | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor, h_adapted: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(x + h_adapted))

    def reset_parameters(self, scheme: str) -> None:
        init_linear(self.proj, scheme, zero=scheme == "zero_up")
