"""VeRA (Kopiczko et al., ICLR 2024) through PEFT: each wrapped projection becomes

    W x + b + Λ_b B Λ_d A x

where A ∈ R^{r×d_in} and B ∈ R^{d_out×r} are frozen random (Kaiming-uniform) matrices shared by every wrapped
layer (sliced to its size) and regenerated from a fixed PRNG key, so a PET-only checkpoint need not hold them; only
the scaling vectors Λ_d = diag(d) ∈ R^r (initialised to ``vera_d_initial``) and Λ_b = diag(b) ∈ R^{d_out}
(initialised to 0, so the model starts unchanged) train: L (r + d_out) parameters for L wrapped layers.

No VL paper ran VeRA; its defaults follow the VeRA paper's GLUE runs on q and v (rank 1024, d 0.1, no dropout,
lr 4e-3, the low end of its 4e-3 to 1e-2 range), on the projections vlpet's LoRA wraps, backbone biases frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.checks import fraction, in_range, positive
from vlpet.pet.methods.peft_common import PeftTargetOptions, inject_at_placement
from vlpet.pet.options import MAX_SIZE, option
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS

VERA_LR = {"bart": 4e-3, "t5": 4e-3}


@dataclass(frozen=True)
class VeraOptions(PeftTargetOptions):
    vera_rank: int = option("vera: rank r of the shared frozen random A and B (each layer trains r + d_out scales)",
                            1024)
    vera_d_initial: float = option("vera: initial value of every entry of the scaling vector d", 0.1)
    vera_dropout: float = option("vera: dropout on the VeRA branch's input", 0.0)

    def validate(self) -> None:
        super().validate()
        in_range("vera_rank", self.vera_rank, 1, MAX_SIZE, f"a positive integer of at most {MAX_SIZE}")
        positive("vera_d_initial", self.vera_d_initial)
        fraction("vera_dropout", self.vera_dropout)


def apply_vera(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT VeRA layers; returns their scaling vectors b and d."""
    options = settings.options
    keys = dict(r=options.vera_rank, d_initial=options.vera_d_initial, vera_dropout=options.vera_dropout)
    return inject_at_placement(vl_model.backbone, settings, "VERA", keys)


METHOD = PETMethod(
    "vera", "VeRA (PEFT): frozen shared random A, B on q and v, trained scaling vectors b and d per layer",
    apply_vera, VeraOptions,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": VERA_LR[paper], "placement": list(ATTENTION_PLACEMENTS),
                                         "train_norms": "none"},
    size_knob="vera_rank",
)
