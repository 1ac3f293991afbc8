"""The decoder's lightweight design: a parallel adapter on the cross-attention value input (vlpet_spec §3)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vlpet.pet.base import PETModule, init_linear


class ParallelValueAdapter(PETModule):
    """V = (W_v E + b_v) + W_u · GELU_tanh(W_d E + b_d) + b_u, with no gate, scale or norm.

    ``forward(e)`` returns only the adapter term ``W_u · GELU_tanh(W_d e + b_d) + b_u`` ([..., d] → [..., d]);
    the placement hook adds it to the frozen value projection's output.
    """

    component = "decoder modules"

    def __init__(self, d_model: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(e), approximate="tanh"))

    def reset_parameters(self, scheme: str) -> None:
        init_linear(self.down, scheme)
        init_linear(self.up, scheme, zero=scheme == "zero_up")
