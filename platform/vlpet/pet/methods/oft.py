"""OFT (Qiu et al., NeurIPS 2023) through PEFT: each wrapped projection becomes

    W R x + b,   R = diag(R_1, …, R_{d_in/b}),   R_i = (I + Q_i)(I − Q_i)⁻¹,   Q_i = −Q_iᵀ ∈ R^{b×b},

a block-diagonal orthogonal rotation of the input from the Cayley transform of trained skew-symmetric blocks of
size b (b(b−1)/2 parameters each, stored as the upper triangle); Q = 0 at the start, so R = I and the model starts
unchanged. L · (d_in / b) · b(b−1)/2 parameters for L wrapped layers.

No VL paper ran OFT; its defaults are PEFT's (block size 32, no dropout, no COFT constraint) on the projections
vlpet's LoRA wraps, with LoRA's learning rates (1e-3 BART, 3e-4 T5), backbone biases frozen. A block size that
does not divide d_in is moved by PEFT to the nearest one that does (with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import fraction, in_range
from vlpet.pet.methods.lora import LORA_LR
from vlpet.pet.methods.peft_common import PeftTargetOptions, inject_at_placement
from vlpet.pet.options import MAX_SIZE, option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS


@dataclass(frozen=True)
class OftOptions(PeftTargetOptions):
    oft_block_size: int = option("oft: side b of each orthogonal block (b(b-1)/2 parameters per block, d_in/b blocks)",
                                 32)
    oft_dropout: float = option("oft: probability of dropping a whole block's rotation in training", 0.0)

    def validate(self) -> None:
        super().validate()
        in_range("oft_block_size", self.oft_block_size, 2, MAX_SIZE, f"an integer from 2 to {MAX_SIZE}")
        fraction("oft_dropout", self.oft_dropout)


def apply_oft(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT OFT layers; returns their rotation modules (the skew-symmetric blocks)."""
    options = settings.options
    keys = dict(r=0, oft_block_size=options.oft_block_size, module_dropout=options.oft_dropout)
    return inject_at_placement(vl_model.backbone, settings, "OFT", keys)


METHOD = PETMethod(
    "oft", "OFT (PEFT): a trained block-diagonal orthogonal rotation of the input of each wrapped q and v",
    apply_oft, OftOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="oft_block_size",
)
