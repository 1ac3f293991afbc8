"""Output scaling (an IA³-style toy): each chosen sub-layer's output H becomes ℓ ⊙ H with a learned vector
ℓ ∈ R^d per layer, starting at ``scale_init``. The worked example of docs/extending.md: a method with one
hyper-parameter of its own is this one file (dropped into ``vlpet/pet/methods/`` it is found by name)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vlpet.checks import positive
from vlpet.pet.base import PETModule
from vlpet.pet.injection import module_name
from vlpet.pet.options import MethodOptions, option
from vlpet.pet.placement import architecture_of, attach_sublayer_module, stack_layers
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import SEQUENTIAL_PLACEMENTS


@dataclass(frozen=True)
class OutputScaleOptions(MethodOptions):
    scale_init: float = option("output-scale: initial value of every scale ℓ (1 = the backbone unchanged)", 1.0)

    def validate(self) -> None:
        positive("scale_init", self.scale_init)

    def check(self, settings: PETSettings) -> str | None:
        wrong = [p for p in settings.placement if p not in SEQUENTIAL_PLACEMENTS]
        return f"placement: output-scale scales sub-layer outputs; {', '.join(wrong)} is not one" if wrong else None


class OutputScale(PETModule):
    """h ↦ ℓ ⊙ h for h [..., d]; ℓ ∈ R^d."""

    component = "encoder modules"  # the budget tells encoder and decoder modules apart by where they sit

    def __init__(self, d_model: int, init: float) -> None:
        super().__init__()
        self.init = init
        self.scale = nn.Parameter(torch.full((d_model,), init))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h * self.scale

    def reset_parameters(self, scheme: str) -> None:
        nn.init.constant_(self.scale, self.init)


def apply_output_scale(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    backbone = vl_model.backbone
    for placement in settings.placement:
        for layer in stack_layers(backbone, placement):
            module = OutputScale(backbone.config.d_model, settings.options.scale_init)
            layer.add_module(module_name(placement), module)
            attach_sublayer_module(layer, architecture_of(backbone).sites[placement], module)
    return []


METHOD = PETMethod(
    "output-scale", "output scaling: a learned vector ℓ multiplies each chosen sub-layer's output", apply_output_scale,
    OutputScaleOptions, reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"placement": ["encoder.ffn", "decoder.ffn"], "train_norms": "none"},
)
