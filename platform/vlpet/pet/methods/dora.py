"""DoRA (Liu et al., ICML 2024) through PEFT (LoRA with ``use_dora``): each wrapped projection becomes

    W' x + b,   W' = m · (W + (α/r) B A) / ‖W + (α/r) B A‖_c

with the magnitude m ∈ R^{d_out} initialised to the column norms ‖W‖_c of the pretrained weight and trained, and
the direction updated by LoRA's A (Kaiming-uniform) and B (= 0), so the model starts unchanged.

The VL-Adapter setting of DoRA's VL-BART experiment is vlpet's LoRA run (the paper reports DoRA 77.4 against
LoRA's 76.5 at the same budget): q and v of every attention, rank 128 (150 on T5, as vlpet's LoRA), α 32,
dropout 0.1, every existing backbone bias trained as well, lr 1e-3 BART / 3e-4 T5.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import fraction, in_range, positive
from vlpet.pet.methods.bitfit import existing_biases
from vlpet.pet.methods.lora import LORA_LR
from vlpet.pet.methods.peft_common import PeftTargetOptions, inject_at_placement
from vlpet.pet.options import MAX_SIZE, option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS


@dataclass(frozen=True)
class DoraOptions(PeftTargetOptions):
    dora_rank: int | None = option("dora: rank of LoRA's A and B under the magnitude (default: 128 BART, 150 T5)")
    dora_alpha: float = option("dora: α; the direction's update is scaled by α / rank", 32.0)
    dora_dropout: float = option("dora: dropout on the LoRA branch's input", 0.1)

    paper_defaults = {"bart": {"dora_rank": 128}, "t5": {"dora_rank": 150}}

    def validate(self) -> None:
        super().validate()
        in_range("dora_rank", self.dora_rank, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")
        positive("dora_alpha", self.dora_alpha)
        fraction("dora_dropout", self.dora_dropout)


def apply_dora(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT DoRA layers; returns their A, B and m, and the backbone's own biases (as LoRA trains them)."""
    options, biases = settings.options, existing_biases(vl_model.backbone)
    keys = dict(r=options.dora_rank, lora_alpha=options.dora_alpha, lora_dropout=options.dora_dropout, use_dora=True)
    return inject_at_placement(vl_model.backbone, settings, "LORA", keys) + biases


METHOD = PETMethod(
    "dora", "DoRA (PEFT): LoRA on q and v with a trained magnitude per output, plus the backbone's own biases",
    apply_dora, DoraOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="dora_rank",
)
