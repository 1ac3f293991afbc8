"""Large granularity: one value per element, from a low-rank projection of X (vlpet_spec §2.2)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vlpet.pet.base import init_linear
from vlpet.pet.gates.base import Gate, register_gate


@register_gate("large")
class LargeGate(Gate):
    """G = σ(W_gu · GELU_tanh(W_gd · X + b_gd) + b_gu) → [B, L, d]; 2·d·r_g + r_g + d parameters."""

    def __init__(self, d_model: int, gate_bottleneck: int | None = None) -> None:
        super().__init__()
        if not gate_bottleneck or gate_bottleneck < 1:
            raise ValueError("the large gate needs a positive gate_bottleneck (r_g)")
        self.down = nn.Linear(d_model, gate_bottleneck)
        self.up = nn.Linear(gate_bottleneck, d_model)

    def forward(self, x: torch.Tensor, h_adapted: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up(F.gelu(self.down(x), approximate="tanh")))

    def reset_parameters(self, scheme: str) -> None:
        init_linear(self.down, scheme)
        init_linear(self.up, scheme, zero=scheme == "zero_up")
