"""VL-PET (vlpet_spec §2–3): gated multi-head modifications on sequential sites, a parallel value adapter
on the decoder's cross-attention value input."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import in_range
from vlpet.pet.injection import inject_at_placements
from vlpet.pet.modification import MultiHeadModification
from vlpet.pet.options import MAX_SIZE, MethodOptions, option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import LIGHTWEIGHT_PLACEMENT


@dataclass(frozen=True)
class VLPetOptions(MethodOptions):
    heads: int = option("N_h, heads of the multi-head modification (r must divide by it)", 4)

    def validate(self) -> None:
        in_range("heads", self.heads, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")

    def check(self, settings: PETSettings) -> str | None:
        if settings.bottleneck % self.heads:
            return (f"bottleneck: {settings.bottleneck} is not divisible by heads={self.heads}; "
                    "choose r as a multiple of N_h")
        return None


def apply_vl_pet(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """Multi-head ΔH + granularity gate G at each sequential placement; value adapter where placed."""
    heads = settings.options.heads
    inject_at_placements(vl_model.backbone, settings, lambda d: MultiHeadModification(d, settings.bottleneck, heads))
    return []


METHOD = PETMethod(
    "vl-pet", "VL-PET: multi-head ΔH + granularity gate G on the encoder, value adapter in the decoder",
    apply_vl_pet, VLPetOptions,
    reads=("granularity", "bottleneck", "gate_bottleneck", "decoder_bottleneck", "gate_scale", "placement",
           "train_norms"),
    defaults=lambda paper, granularity: {"placement": list(LIGHTWEIGHT_PLACEMENT), "train_norms": "encoder"},
    takes_granularity=True, default_granularity="large",
    size_knob="bottleneck",
)
