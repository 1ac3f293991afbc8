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


@register_method("vl-pet")
def apply_vl_pet(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """Multi-head ΔH + granularity gate G at each sequential placement; value adapter where placed."""
    for placement in settings.placement:
        if placement == "decoder.cross_attn.value":
            inject_value_adapters(vl_model.backbone, settings.decoder_bottleneck)
        else:
            inject_gated_modules(
                vl_model.backbone, settings, placement,
                lambda d: MultiHeadModification(d, settings.bottleneck, settings.heads),
            )
    return []
