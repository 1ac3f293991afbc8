"""VL-PET (vlpet_spec §2–3): gated multi-head modifications on sequential sites, a parallel value adapter
on the decoder's cross-attention value input."""

from __future__ import annotations

from torch import nn

from vlpet.pet.gated_sublayer import GatedSublayerModule
from vlpet.pet.gates import build_gate
from vlpet.pet.modification import MultiHeadModification
from vlpet.pet.placement import architecture_of, attach_parallel_module, attach_sublayer_module, stack_layers
from vlpet.pet.registry import register_method
from vlpet.pet.settings import PETSettings
from vlpet.pet.value_adapter import ParallelValueAdapter

LIGHTWEIGHT_PLACEMENT = ("encoder.attn", "encoder.ffn", "decoder.cross_attn.value")  # encoder modules + decoder VPA


def module_name(placement: str) -> str:
    """Attribute name under which a placement's module is stored in its layer (and in state dicts)."""
    return "vlpet_" + placement.replace(".", "_")


def inject_gated_modules(backbone: nn.Module, settings: PETSettings, placement: str, make_modification) -> None:
    """Attach ``s · G ⊙ (H + ΔH)`` at ``placement`` in every layer of its stack."""
    site = architecture_of(backbone).sites[placement]
    d_model = backbone.config.d_model
    for layer in stack_layers(backbone, placement):
        gate = build_gate(settings.granularity, d_model, settings.gate_bottleneck) if settings.granularity else None
        module = GatedSublayerModule(make_modification(d_model), gate, settings.gate_scale)
        layer.add_module(module_name(placement), module)
        attach_sublayer_module(layer, site, module)


def inject_value_adapters(backbone: nn.Module, bottleneck: int, make_adapter=None) -> None:
    """Attach a parallel adapter to the cross-attention value projection of every decoder layer."""
    table = architecture_of(backbone)
    make_adapter = make_adapter or (lambda d: ParallelValueAdapter(d, bottleneck))
    for layer in stack_layers(backbone, "decoder.cross_attn.value"):
        adapter = make_adapter(backbone.config.d_model)
        layer.add_module(module_name("decoder.cross_attn.value"), adapter)
        attach_parallel_module(layer.get_submodule(table.cross_attn_value), adapter)


def inject_at_placements(backbone: nn.Module, settings: PETSettings, make_modification, make_value_adapter=None) -> None:
    """``s · G ⊙ (H + ΔH)`` with ΔH = ``make_modification(d)`` at each sequential placement, and a parallel value
    adapter ``make_value_adapter(d)`` (default: :class:`ParallelValueAdapter` of size r_v) where placed.

    Shared by VL-PET and by the adapter/compacter baselines, which differ only in the ΔH module (and with no
    granularity have G = 1 and s = 1: a plain sequential adapter with its own skip).
    """
    for placement in settings.placement:
        if placement == "decoder.cross_attn.value":
            inject_value_adapters(backbone, settings.decoder_bottleneck, make_value_adapter)
        else:
            inject_gated_modules(backbone, settings, placement, make_modification)


def check_heads(settings: PETSettings) -> str | None:
    if settings.bottleneck % settings.heads:
        return (f"bottleneck: {settings.bottleneck} is not divisible by heads={settings.heads}; "
                "choose r as a multiple of N_h")
    return None


@register_method(
    "vl-pet", summary="VL-PET: multi-head ΔH + granularity gate G on the encoder, value adapter in the decoder",
    keys=("granularity", "bottleneck", "heads", "gate_bottleneck", "decoder_bottleneck", "gate_scale", "placement",
          "train_norms"),
    defaults=lambda family, granularity: {"placement": list(LIGHTWEIGHT_PLACEMENT), "train_norms": "encoder"},
    takes_granularity=True, default_granularity="large", check=check_heads,
)
def apply_vl_pet(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """Multi-head ΔH + granularity gate G at each sequential placement; value adapter where placed."""
    inject_at_placements(vl_model.backbone, settings,
                         lambda d: MultiHeadModification(d, settings.bottleneck, settings.heads))
    return []
