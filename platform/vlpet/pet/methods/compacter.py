"""Compacter (vlpet_spec §5): VL-Adapter's layout with PHM adapters (n = 2, rules neither shared nor
factorised, d → r → d), one per insertion point shared by all tasks, all norms trained. BART: r = 96
(reduction 8), 30 adapters, lr 1e-3. The paper has no T5 Compacter run; T5 takes r = 192 and, like the T5
adapter run, frozen norms.

With ``granularity`` set it becomes "Compacter + G + lightweight designs" (paper Table 9, no script in the
repository; vlpet_spec §5): encoder-only PHM adapters gated by G, a PHM parallel adapter (d → r_v → d) on each
cross-attention value input, encoder norms. The released code would silently build plain adapters for that run
(``create_config`` picks ``AdapterConfig`` first); here the PHM variant is built explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import in_range
from vlpet.pet.injection import inject_at_placements
from vlpet.pet.methods.adapter import adapter_defaults
from vlpet.pet.options import MAX_SIZE, MethodOptions, option
from vlpet.pet.phm import PHMAdapter
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings


@dataclass(frozen=True)
class CompacterOptions(MethodOptions):
    phm_dim: int = option("compacter: n, the number of Kronecker summands of each PHM layer (d and r divisible by n)",
                          2)

    def validate(self) -> None:
        in_range("phm_dim", self.phm_dim, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")

    def check(self, settings: PETSettings) -> str | None:
        sizes = {"bottleneck": settings.bottleneck}
        if "decoder.cross_attn.value" in settings.placement:
            sizes["decoder_bottleneck"] = settings.decoder_bottleneck
        for key, size in sizes.items():
            if size % self.phm_dim:
                return f"{key}: {size} is not divisible by phm_dim={self.phm_dim}; choose a multiple of n"
        return None


def apply_compacter(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """PHM adapters as ΔH at sequential sites, PHM parallel adapters on cross-attention values."""
    n = settings.options.phm_dim
    inject_at_placements(vl_model.backbone, settings, lambda d: PHMAdapter(d, settings.bottleneck, n),
                         lambda d: PHMAdapter(d, settings.decoder_bottleneck, n))
    return []


METHOD = PETMethod(
    "compacter", "Compacter: PHM adapters (n = phm_dim) where VL-Adapter puts adapters; + G with granularity",
    apply_compacter, CompacterOptions,
    reads=("bottleneck", "granularity", "gate_bottleneck", "decoder_bottleneck", "gate_scale", "placement",
           "train_norms"),
    defaults=adapter_defaults, takes_granularity=True,
    size_knob="bottleneck",
)
