"""MiddleY granularity: one input-independent value per channel (vlpet_spec §2.2, d parameters)."""

from __future__ import annotations

import torch
from torch import nn

from vlpet.pet.gates.base import Gate, register_gate


@register_gate("middleY")
class MiddleYGate(Gate):
    """G = 1 + g with a free vector g ∈ R^d → [d], broadcast over batch and tokens (IA3-like)."""

    def __init__(self, d_model: int, gate_bottleneck: int | None = None) -> None:
        super().__init__()
        self.vector = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor, h_adapted: torch.Tensor) -> torch.Tensor:
        return 1.0 + self.vector

    def reset_parameters(self, scheme: str) -> None:
        if scheme != "normal":  # zero_up zeroes it; PyTorch's default is the zeros it was built with
            nn.init.zeros_(self.vector)
        else:
            nn.init.normal_(self.vector, mean=0.0, std=0.02)
