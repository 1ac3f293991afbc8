"""Any Hugging Face PEFT tuner as a vlpet method: ``method: peft`` with ``peft: {peft_type: NAME, <its keys>}``.

The mapping is handed to PEFT's own config class (``LoHaConfig``, ``BOFTConfig``, ...), which validates it; a
rejection is one ConfigError line naming the key. Unless the mapping names ``target_modules`` itself (PEFT's
meaning: module-name suffixes or a regex, placement then unused), PEFT wraps the Linear layers that
``placement`` and ``peft_targets`` select through the backbone family's record, the same sites as every other
method. Each wrapped layer computes what its tuner defines, e.g. LoHa: W x + (α/r) · ((B₁A₁) ⊙ (B₂A₂)) x.
The shortcuts (dora, vera, ia3, miss, oft, lokr) are this method with flat keys and paper defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vlpet.pet.methods.lora import LORA_LR
from vlpet.pet.methods.peft_common import PeftTargetOptions, inject, peft_config, target_modules
from vlpet.pet.options import option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS


@dataclass(frozen=True)
class PeftOptions(PeftTargetOptions):
    peft: dict[str, Any] | None = option("peft: PEFT's own config as a mapping, peft_type plus keys of its config "
                                         "class, e.g. {peft_type: LOHA, r: 8, alpha: 16}; without target_modules "
                                         "PEFT wraps the layers placement and peft_targets select")

    def validate(self) -> None:
        super().validate()
        if self.peft is not None:
            peft_config(self.peft)

    def check(self, settings: PETSettings) -> str | None:
        if self.peft is None:
            return "peft: method peft needs a mapping of peft_type and its keys, e.g. peft: {peft_type: LOHA, r: 8}"
        if "target_modules" in self.peft:
            return None
        return super().check(settings)


def apply_peft(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects the PEFT tuner the ``peft`` mapping describes; returns its adapters (and whatever else PEFT trains)."""
    backbone, given = vl_model.backbone, dict(settings.options.peft)
    if "target_modules" not in given:
        given["target_modules"] = target_modules(backbone, settings.placement, settings.options.peft_targets)
    return inject(backbone, peft_config(given))


METHOD = PETMethod(
    "peft", "any Hugging Face PEFT tuner from a `peft:` mapping (peft_type and its keys), at the placed sites",
    apply_peft, PeftOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": LORA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
)
