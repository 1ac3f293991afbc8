"""MiSS (Kang & Yin, "MiSS: revisiting the trade-off in LoRA with an efficient shard-sharing structure"; PEFT's
successor of Bone, which PEFT renamed) through PEFT, in its default "balance" form: each wrapped projection becomes

    W x + b + (Σ_k x_k) D,   x = [x_1, …, x_{d_in/r}] split into shards of size r,

with one trained shard-shared block D ∈ R^{r×d_out} per layer, initialised to 0 (the model starts unchanged):
L · r · d_out parameters for L wrapped layers.

No VL paper ran MiSS; its defaults are PEFT's (r 64, no dropout) on the projections vlpet's LoRA wraps, with
LoRA's learning rates (1e-3 BART, 3e-4 T5), backbone biases frozen.
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
class MissOptions(PeftTargetOptions):
    miss_rank: int = option("miss: shard size r (each layer trains one r × d_out block; at most d_in)", 64)
    miss_dropout: float = option("miss: dropout on the MiSS branch's input", 0.0)

    def validate(self) -> None:
        super().validate()
        in_range("miss_rank", self.miss_rank, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")
        fraction("miss_dropout", self.miss_dropout)


def apply_miss(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT MiSS layers; returns their blocks D."""
    options = settings.options
    keys = dict(r=options.miss_rank, miss_dropout=options.miss_dropout)
    return inject_at_placement(vl_model.backbone, settings, "MISS", keys)


METHOD = PETMethod(
    "miss", "MiSS (PEFT; formerly Bone): one trained shard-shared r × d_out block per wrapped q and v",
    apply_miss, MissOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="miss_rank",
)
