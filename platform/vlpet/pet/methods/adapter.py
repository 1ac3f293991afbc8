"""VL-Adapter (vlpet_spec §5): one bottleneck adapter d → r → d (GELU_tanh, its own skip, no extra norm) after
each sequential sub-layer — encoder self-attention and FFN, decoder self-attention, cross-attention and FFN —
shared by all tasks (``--use_single_adapter``). BART: r = 96, 30 adapters, all 32 LayerNorms train, lr 1e-3.
T5 (LST): r = 192, 60 adapters, lr 3e-4, norms frozen (the paper's ``--unfreeze_layer_norms`` missed T5's
copied norm class).

With ``granularity`` set it becomes "VL-Adapter + G + lightweight designs" (paper Table 9): adapters on the
encoder sites only, gated as s · G ⊙ (H + ΔH), a parallel adapter on each cross-attention value input, encoder
norms — the parameter set of VL-PET at the same granularity (a single head instead of N_h).
"""

from __future__ import annotations

from torch import nn

from vlpet.pet.injection import inject_at_placements
from vlpet.pet.modification import MultiHeadModification
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import LIGHTWEIGHT_PLACEMENT, SEQUENTIAL_PLACEMENTS

ADAPTER_PLACEMENT = SEQUENTIAL_PLACEMENTS  # after every sequential sub-layer of both stacks
ADAPTER_NORMS = {"bart": "all", "t5": "none"}  # what the paper's runs actually trained (vlpet_spec §5, note)
ADAPTER_INIT = {"t5": {"init": "pytorch"}}  # the LST T5 code keeps PyTorch's default init for its adapters


def adapter_defaults(paper: str, granularity: str | None) -> dict:
    """Placement and norms of the paper's runs; with a gate, those of VL-PET's lightweight designs."""
    if granularity:
        return {"placement": list(LIGHTWEIGHT_PLACEMENT), "train_norms": "encoder"}
    return {"placement": list(ADAPTER_PLACEMENT), "train_norms": ADAPTER_NORMS[paper], "gate_scale": 1.0,
            **ADAPTER_INIT.get(paper, {})}


def apply_adapter(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module]:
    """A bottleneck adapter is VL-PET's ΔH with one head."""
    inject_at_placements(vl_model.backbone, settings, lambda d: MultiHeadModification(d, settings.bottleneck, 1))
    return []


METHOD = PETMethod(
    "adapter", "VL-Adapter: single shared bottleneck adapters after every sub-layer; + G with granularity",
    apply_adapter,
    reads=("bottleneck", "granularity", "gate_bottleneck", "decoder_bottleneck", "gate_scale", "placement",
           "train_norms"),
    defaults=adapter_defaults, takes_granularity=True,
    size_knob="bottleneck",
)
