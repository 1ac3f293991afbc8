"""LoRA (vlpet_spec §5) through Hugging Face PEFT: W x + b + (α/r) · B A dropout(x) on the query and value
projections of every attention (encoder self-attention, decoder self- and cross-attention), one LoRA per
projection shared by all tasks.

PEFT's ``inject_adapter_in_model`` swaps the target Linear layers in place, so the backbone stays a plain
Hugging Face model under the VL wrapper. PEFT's init (A Kaiming-uniform, B = 0) and its dropout on the LoRA
input match the paper's loralib-style layers. As in the paper's code (trainable targets ``lora`` and ``bias``),
every existing backbone bias trains too: BART's Linear and LayerNorm biases; T5 has none.
BART: r = 128, α = 32, dropout 0.1, lr 1e-3. T5 (LST): r = 150, lr 3e-4.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import fraction, in_range, positive
from vlpet.pet.methods.bitfit import existing_biases
from vlpet.pet.options import MAX_SIZE, MethodOptions, option
from vlpet.pet.placement import attention_projections
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS

LORA_LR = {"bart": 1e-3, "t5": 3e-4}


@dataclass(frozen=True)
class LoraOptions(MethodOptions):
    lora_rank: int | None = option("lora: rank of A and B (default: 128 BART, 150 T5)")
    lora_alpha: float = option("lora: α; the update is scaled by α / rank", 32.0)
    lora_dropout: float = option("lora: dropout on the LoRA branch's input", 0.1)

    paper_defaults = {"bart": {"lora_rank": 128}, "t5": {"lora_rank": 150}}

    def validate(self) -> None:
        in_range("lora_rank", self.lora_rank, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")
        positive("lora_alpha", self.lora_alpha)
        fraction("lora_dropout", self.lora_dropout)

    def check(self, settings: PETSettings) -> str | None:
        wrong = [p for p in settings.placement if p not in ATTENTION_PLACEMENTS]
        if wrong:
            return (f"placement: LoRA goes on the query and value projections of attentions; {', '.join(wrong)} "
                    f"is not an attention site (allowed: {', '.join(ATTENTION_PLACEMENTS)})")
        return None


def apply_lora(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT LoRA layers; returns their A/B matrices and the backbone's biases to unfreeze."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    backbone, options = vl_model.backbone, settings.options
    biases = existing_biases(backbone)
    config = LoraConfig(r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                        target_modules=attention_projections(backbone, settings.placement), bias="none")
    inject_adapter_in_model(config, backbone)
    matrices = []
    for layer in backbone.modules():
        if isinstance(layer, LoraLayer):
            for weights in (layer.lora_A, layer.lora_B):
                weights.component = "lora"  # the budget's breakdown row
                matrices.append(weights)
    return matrices + biases


METHOD = PETMethod(
    "lora", "LoRA (PEFT) on q and v of every attention, plus the backbone's own biases", apply_lora, LoraOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="lora_rank",
)
