"""Parameter budget: trainable and total counts as vlpet_spec §1.4 defines them, with a breakdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from vlpet.models.families import norm_types
from vlpet.pet.quant import quantised_parameters, stored_bytes

COMPONENTS = ("visual projector", "encoder modules", "gates", "decoder modules", "prompts", "lora", "peft", "biases",
              "layer norms", "backbone")


@dataclass
class ParameterBudget:
    """Counts over ``model.parameters()`` with every shared tensor counted once; buffers never count.

    ``breakdown`` maps each component to its trainable parameter count. ``backbone`` holds the backbone's own
    tensors that a method trains (everything for ``full``, the existing biases for BART ``bitfit``/``lora``).
    ``adapter_bytes``: the storage of every trainable tensor at its stored precision, scales included (what a
    PET-only checkpoint holds); ``quantised_params``: the trainable parameters stored at ``adapter_bits``.
    """

    trainable_params: int
    total_params: int
    breakdown: dict[str, int] = field(default_factory=dict)
    adapter_bytes: int = 0
    quantised_params: int = 0

    @property
    def trainable_pct(self) -> float:
        return 100.0 * self.trainable_params / self.total_params if self.total_params else 0.0

    def as_dict(self) -> dict:
        return {
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "trainable_pct": self.trainable_pct,
            "adapter_bytes": self.adapter_bytes,
            "quantised_params": self.quantised_params,
            "breakdown": dict(self.breakdown),
        }


def _component_of(module_name: str, module: nn.Module) -> str | None:
    """A module's row: its ``component`` attribute (PET modules, the visual projector, LoRA matrices), with
    encoder/decoder modules told apart by where they sit; norms are "layer norms"."""
    component = getattr(module, "component", None) if isinstance(module, nn.Module) else None
    if component in ("encoder modules", "decoder modules"):
        return "decoder modules" if ".decoder." in f".{module_name}." else "encoder modules"
    if isinstance(component, str):
        return component
    if isinstance(module, norm_types()):
        return "layer norms"
    return None


def parameter_components(model: nn.Module) -> dict[int, str]:
    """id(parameter) → component, the outermost classified module winning."""
    owner: dict[int, str] = {}
    for name, module in model.named_modules():
        component = _component_of(name, module)
        if component is None:
            continue
        for param in module.parameters():
            owner.setdefault(id(param), component)
    return owner


def count_parameters(model: nn.Module) -> ParameterBudget:
    """Trainable/total parameter counts, the per-component breakdown of trainable parameters and their storage."""
    owner, bits = parameter_components(model), quantised_parameters(model)
    breakdown = {name: 0 for name in COMPONENTS}
    trainable = total = stored = quantised = 0
    for param in model.parameters():  # nn.Module.parameters() yields each shared tensor once
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            component = owner.get(id(param), "backbone")
            breakdown[component] = breakdown.get(component, 0) + param.numel()
            stored += stored_bytes(param, bits.get(id(param)))
            quantised += param.numel() if id(param) in bits else 0
    return ParameterBudget(trainable, total, breakdown, stored, quantised)
