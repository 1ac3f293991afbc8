"""LoKr (Yeh et al., ICLR 2024, LyCORIS) through PEFT: each wrapped projection becomes

    W x + b + (α/r) · (W₁ ⊗ W₂) x,   W₁ ∈ R^{f×f'} full,   W₂ = B A of rank r,

with d_out = f·d_out/f and d_in = f'·d_in/f' split by the factor f (``lokr_factor``; -1: near the square root).
W₁ starts at 0 (W₂'s factors Kaiming-uniform), so the model starts unchanged. Per layer: f·f' + r (d_out/f +
d_in/f') parameters while 2r is below W₂'s larger side; from there PEFT stores W₂ full and the rank stops mattering.

No VL paper ran LoKr; defaults: factor 8 (W₁ 8×8, W₂ of side d/8, so the rank knob scales up to r = d/16),
r 32, α 32 (scale 1), on the projections vlpet's LoRA wraps, with LoRA's learning rates (1e-3 BART, 3e-4 T5),
backbone biases frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import fail, fraction, in_range, positive
from vlpet.pet.methods.lora import LORA_LR
from vlpet.pet.methods.peft_common import PeftTargetOptions, inject_at_placement
from vlpet.pet.options import MAX_SIZE, option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS


@dataclass(frozen=True)
class LokrOptions(PeftTargetOptions):
    lokr_rank: int = option("lokr: rank r of the larger Kronecker factor W2 = B A", 32)
    lokr_alpha: float = option("lokr: α; the update is scaled by α / rank", 32.0)
    lokr_factor: int = option("lokr: size f of the small Kronecker factor W1 (f × f'); -1 splits near the square "
                              "root", 8)
    lokr_dropout: float = option("lokr: in training, drop each output row of the update with this probability", 0.0)

    def validate(self) -> None:
        super().validate()
        in_range("lokr_rank", self.lokr_rank, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")
        positive("lokr_alpha", self.lokr_alpha)
        if self.lokr_factor != -1 and not 1 <= self.lokr_factor <= MAX_SIZE:
            fail("lokr_factor", f"must be -1 or a positive integer of at most {MAX_SIZE}, got {self.lokr_factor}")
        fraction("lokr_dropout", self.lokr_dropout)


def apply_lokr(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT LoKr layers; returns their Kronecker factors."""
    options = settings.options
    keys = dict(r=options.lokr_rank, alpha=options.lokr_alpha, decompose_factor=options.lokr_factor,
                rank_dropout=options.lokr_dropout)
    return inject_at_placement(vl_model.backbone, settings, "LOKR", keys)


METHOD = PETMethod(
    "lokr", "LoKr (PEFT): a Kronecker product W1 ⊗ (B A) added to each wrapped q and v",
    apply_lokr, LokrOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="lokr_rank",
)
