"""The combination rule of VL-PET around one sub-layer (vlpet_spec §2.2)."""

from __future__ import annotations

import torch
from torch import nn

from vlpet.pet.base import PETModule
from vlpet.pet.gates.base import Gate


class GatedSublayerModule(nn.Module):
    """Maps a sub-layer's raw output H to s · G ⊙ (H + ΔH).

    ``modification`` computes ΔH from H ([B, L, d] → [B, L, d]); ``gate`` computes G from (X, H + ΔH);
    without a gate G = 1. The residual add, dropout and (BART) LayerNorm stay the backbone's own and happen
    after this module, exactly where the backbone applies them to H.
    """

    def __init__(self, modification: PETModule | None, gate: Gate | None, scale: float) -> None:
        super().__init__()
        self.modification = modification
        self.gate = gate
        self.scale = float(scale)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        adapted = h if self.modification is None else h + self.modification(h)
        if self.gate is not None:
            adapted = self.gate(x, adapted) * adapted
        return adapted if self.scale == 1.0 else self.scale * adapted
