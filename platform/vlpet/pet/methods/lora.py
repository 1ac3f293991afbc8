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

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from vlpet.pet.methods.bitfit import existing_biases
from vlpet.pet.placement import ATTENTION_PLACEMENTS, attention_projections
from vlpet.pet.registry import register_method
from vlpet.pet.settings import PETSettings

LORA_DEFAULTS = {"bart": {"lora_rank": 128, "lr": 1e-3}, "t5": {"lora_rank": 150, "lr": 3e-4}}


def check_lora(settings: PETSettings) -> str | None:
    wrong = [p for p in settings.placement if p not in ATTENTION_PLACEMENTS]
    if wrong:
        return (f"placement: LoRA goes on the query and value projections of attentions; {', '.join(wrong)} "
                f"is not an attention site (allowed: {', '.join(ATTENTION_PLACEMENTS)})")
    return None


@register_method(
    "lora", summary="LoRA (PEFT) on q and v of every attention, plus the backbone's own biases",
    keys=("lora_rank", "lora_alpha", "lora_dropout", "placement", "train_norms"),
    defaults=lambda family, granularity: {**LORA_DEFAULTS[family], "placement": list(ATTENTION_PLACEMENTS),
                                          "train_norms": "none"},
    check=check_lora,
)
def apply_lora(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT LoRA layers; returns their A/B matrices and the backbone's biases to unfreeze."""
    backbone = vl_model.backbone
    biases = existing_biases(backbone)
    config = LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                        target_modules=attention_projections(backbone, settings.placement), bias="none")
    inject_adapter_in_model(config, backbone)
    matrices = []
    for layer in backbone.modules():
        if isinstance(layer, LoraLayer):
            for weights in (layer.lora_A, layer.lora_B):
                weights.component = "lora"  # the budget's breakdown row
                matrices.append(weights)
    return matrices + biases
