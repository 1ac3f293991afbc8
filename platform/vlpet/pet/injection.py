"""Shared injection steps: gated ΔH modules at sequential sites and parallel adapters on the decoder's
cross-attention value input, the layout that VL-PET and the adapter/Compacter baselines have in common."""

from __future__ import annotations

from typing import Callable

from torch import nn

from vlpet.pet.gated_sublayer import GatedSublayerModule
from vlpet.pet.gates import build_gate
from vlpet.pet.placement import architecture_of, attach_parallel_module, attach_sublayer_module, stack_layers
from vlpet.pet.settings import PETSettings
from vlpet.pet.value_adapter import ParallelValueAdapter

ModuleFactory = Callable[[int], nn.Module]  # d_model → a module


def module_name(placement: str) -> str:
    """Attribute name under which a placement's module is stored in its layer (and in state dicts)."""
    return "vlpet_" + placement.replace(".", "_")


def inject_gated_modules(backbone: nn.Module, settings: PETSettings, placement: str,
                         make_modification: ModuleFactory) -> None:
    """Attach ``s · G ⊙ (H + ΔH)`` at ``placement`` in every layer of its stack."""
    site = architecture_of(backbone).sites[placement]
    d_model = backbone.config.d_model
    for layer in stack_layers(backbone, placement):
        gate = build_gate(settings.granularity, d_model, settings.gate_bottleneck) if settings.granularity else None
        module = GatedSublayerModule(make_modification(d_model), gate, settings.gate_scale)
        layer.add_module(module_name(placement), module)
        attach_sublayer_module(layer, site, module)


def inject_value_adapters(backbone: nn.Module, bottleneck: int, make_adapter: ModuleFactory | None = None) -> None:
    """Attach a parallel adapter to the cross-attention value projection of every decoder layer."""
    table = architecture_of(backbone)
    make_adapter = make_adapter or (lambda d: ParallelValueAdapter(d, bottleneck))
    for layer in stack_layers(backbone, "decoder.cross_attn.value"):
        adapter = make_adapter(backbone.config.d_model)
        layer.add_module(module_name("decoder.cross_attn.value"), adapter)
        attach_parallel_module(layer.get_submodule(table.cross_attn_value), adapter)


def inject_at_placements(backbone: nn.Module, settings: PETSettings, make_modification: ModuleFactory,
                         make_value_adapter: ModuleFactory | None = None) -> None:
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
