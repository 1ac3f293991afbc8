"""Full fine-tuning (vlpet_spec §5): every parameter of the VL model trains, nothing is added."""

from __future__ import annotations

from torch import nn

from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings


def apply_full(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """The whole VL model is returned to be unfrozen (backbone, tied embedding/lm_head, visual projector)."""
    return [vl_model]


METHOD = PETMethod(
    "full", "full fine-tuning: every parameter trains (BART and T5 scripts: lr 1e-4)", apply_full,
    defaults=lambda paper, granularity: {"lr": 1e-4, "train_norms": "all"},
)
