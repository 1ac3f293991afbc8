"""Full fine-tuning (vlpet_spec §5): every parameter of the VL model trains, nothing is added."""

from __future__ import annotations

from torch import nn

from vlpet.pet.registry import register_method
from vlpet.pet.settings import PETSettings


@register_method(
    "full", summary="full fine-tuning: every parameter trains (BART and T5 scripts: lr 1e-4)",
    defaults=lambda family, granularity: {"lr": 1e-4, "train_norms": "all"},
)
def apply_full(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """The whole VL model is returned to be unfrozen (backbone, tied embedding/lm_head, visual projector)."""
    return [vl_model]
