"""Parameterised hypercomplex multiplication (PHM) layers and the Compacter adapter built from them
(vlpet_spec §5 and §6; Mahabadi et al., 2021). Hand-written: no maintained library that installs beside
transformers 5 has them (PEFT has no Compacter; AdapterHub's ``adapters`` pins transformers 4.x)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vlpet.pet.base import PETModule


class PHMLinear(nn.Module):
    """y = x · H + b with H = Σ_{i=1..n} A_i ⊗ W_i.

    A (``rule``): [n, n, n], one n×n rule per summand, neither shared nor factorised; W (``weight``):
    [n, in/n, out/n]; b (``bias``): [out]. Parameters n³ + in·out/n + out. Shapes: x [..., in] → y [..., out].
    """

    def __init__(self, in_features: int, out_features: int, n: int) -> None:
        super().__init__()
        if in_features % n or out_features % n:
            raise ValueError(f"PHM layer {in_features}→{out_features}: both sizes must be divisible by n={n}")
        self.rule = nn.Parameter(torch.empty(n, n, n))
        self.weight = nn.Parameter(torch.empty(n, in_features // n, out_features // n))
        self.bias = nn.Parameter(torch.empty(out_features))

    def matrix(self) -> torch.Tensor:
        """H = Σ_i kron(A_i, W_i), [in, out]."""
        n, rows, cols = self.weight.shape
        return torch.einsum("ipq,ijk->pjqk", self.rule, self.weight).reshape(n * rows, n * cols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.matrix().t(), self.bias)

    def reset_parameters(self, zero: bool = False) -> None:
        """Compacter's init: W_i Glorot-uniform, rules N(0, 0.01), bias 0; ``zero`` zeroes W and b (T5 zero-up)."""
        nn.init.normal_(self.rule, mean=0.0, std=0.01)
        nn.init.zeros_(self.bias)
        if zero:
            nn.init.zeros_(self.weight)
            return
        for index in range(self.weight.shape[0]):
            nn.init.xavier_uniform_(self.weight.data[index])


class PHMAdapter(PETModule):
    """ΔH = PHM_up(GELU_tanh(PHM_down(H))), d → r → d; the caller adds the skip (sequential) or the frozen
    projection (parallel). 74,608 parameters at d = 768, r = 96, n = 2. Shapes: [..., d] → [..., d]."""

    component = "encoder modules"

    def __init__(self, d_model: int, bottleneck: int, n: int) -> None:
        super().__init__()
        self.down = PHMLinear(d_model, bottleneck, n)
        self.up = PHMLinear(bottleneck, d_model, n)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(h), approximate="tanh"))

    def reset_parameters(self, scheme: str) -> None:
        self.down.reset_parameters()
        self.up.reset_parameters(zero=scheme == "zero_up")
