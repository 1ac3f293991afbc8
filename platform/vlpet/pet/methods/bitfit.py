"""BitFit (vlpet_spec §5): only biases train, plus the visual projector.

* BART (VL-PET code, ``--unfreeze_bias``): every existing bias of the backbone, those of the Linear layers and
  of the LayerNorms. BART's ``final_logits_bias`` is a buffer and ``lm_head`` has no bias, so neither trains.
* T5 (LST code, ``--use_bitfit``): T5 has no biases, so the code *adds* zero-initialised ones to every Linear
  (q, k, v, o, wi, wo, ``lm_head``) and to every RMS norm (the visual projector's included), and trains those.
"""

from __future__ import annotations

import torch
from torch import nn

from vlpet.pet.base import PETModule
from vlpet.models.families import family_of_model, norm_types
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings

BITFIT_LR = {"bart": 1e-3, "t5": 3e-3}


class AddedBias(PETModule):
    """y = f(x) + b for a module f that has no bias of its own; b ∈ R^{d_out} starts at zero.

    Stored as the child ``added_bias`` of f and applied by a forward hook on f (``[..., d_out]`` → same shape).
    """

    component = "biases"

    def __init__(self, features: int, device: torch.device | None = None) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(features, device=device))

    def forward(self, output: torch.Tensor) -> torch.Tensor:
        return output + self.bias

    def reset_parameters(self, scheme: str) -> None:
        nn.init.zeros_(self.bias)


def existing_biases(module: nn.Module) -> list[nn.Parameter]:
    """The bias of every Linear and norm inside ``module`` that has one."""
    return [m.bias for m in module.modules()
            if isinstance(m, (nn.Linear, *norm_types())) and isinstance(getattr(m, "bias", None), nn.Parameter)]


def add_missing_biases(module: nn.Module) -> None:
    """Give every bias-free Linear and norm inside ``module`` an :class:`AddedBias`."""
    targets = [m for m in module.modules()
               if isinstance(m, (nn.Linear, *norm_types())) and getattr(m, "bias", None) is None]
    for target in targets:
        added = AddedBias(target.weight.shape[0], device=target.weight.device)
        target.add_module("added_bias", added)
        target.register_forward_hook(lambda _module, _args, output, added=added: added(output))


def apply_bitfit(vl_model: nn.Module, settings: PETSettings) -> list[nn.Parameter]:
    """BART: returns the backbone's biases to unfreeze. T5: adds biases (PET modules, trained by construction)."""
    if not family_of_model(vl_model.backbone).linear_biases:  # T5: the LST code adds them
        add_missing_biases(vl_model)
        return []
    return existing_biases(vl_model.backbone)


METHOD = PETMethod(
    "bitfit", "BitFit: biases only (BART: its own; T5: added to every Linear and norm, as in LST)", apply_bitfit,
    reads=("train_norms",),
    defaults=lambda paper, granularity: {"lr": BITFIT_LR[paper], "train_norms": "none"},
)
