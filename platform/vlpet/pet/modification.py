"""The multi-head modular modification ΔH of VL-PET (vlpet_spec §2.1)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vlpet.pet.base import PETModule, init_linear


class MultiHeadModification(PETModule):
    """ΔH = W_up · GELU_tanh(concat_i(W_down,i · H + b_down,i)) + b_up.

    The N_h down projections (each d → r/N_h) are stored fused as one Linear d → r whose output rows are the
    heads' rows stacked in head order, so one matmul computes every head; this is exactly the concatenation of
    the per-head outputs. The parameter count equals a single-head d → r → d bottleneck.

    Shapes: ``h`` [..., d] → ΔH [..., d].
    """

    component = "encoder modules"

    def __init__(self, d_model: int, bottleneck: int, heads: int, zero_up: bool = True) -> None:
        super().__init__()
        if bottleneck % heads:
            raise ValueError(f"bottleneck {bottleneck} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = bottleneck // heads
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        self.zero_up = zero_up

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(h), approximate="tanh"))

    def head_down(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight [r/N_h, d] and bias [r/N_h] of head ``index``'s down projection (views, not copies)."""
        rows = slice(index * self.head_dim, (index + 1) * self.head_dim)
        return self.down.weight[rows], self.down.bias[rows]

    def reset_parameters(self, scheme: str) -> None:
        init_linear(self.down, scheme)
        init_linear(self.up, scheme, zero=scheme == "zero_up" and self.zero_up)
