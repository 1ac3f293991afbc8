"""(2) Module overhead: (a) the training step of the frozen backbone with VL-PET-large modules vs the same frozen
backbone with none (its encoder norms and visual projector still train, as under VL-PET); (b) the fused
multi-head ΔH + G module vs the paper code's per-head loop of separate Linear layers, forward and
forward+backward, at the shapes a training step feeds it.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from benchmarks.common import (Settings, build_step, device_sync, in_child, interleaved, paired_ratio, set_threads,
                               settings_from, target, trial_config)

MICRO_REPEATS = {"full": 15, "quick": 5, "tiny": 2}
MICRO_INNER = {"full": 10, "quick": 5, "tiny": 1}
# vlpet's CPU training runtime keeps freed memory in the process (vlpet.train.allocator); this variant turns that
# off to show what glibc's defaults cost: every extra activation the modules allocate is faulted in again.
GLIBC_DEFAULTS = {"VLPET_MALLOC_TUNING": "0"}


def per_head_module(fused):
    """The per-head form of a fused :class:`MultiHeadModification`: N_h separate Linear layers d → r/N_h,
    concatenated, GELU_tanh, the same up projection; same weights, same output."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PerHeadModification(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = nn.ModuleList()
            for index in range(fused.heads):
                weight, bias = fused.head_down(index)
                head = nn.Linear(weight.shape[1], weight.shape[0]).to(weight.device, weight.dtype)
                with torch.no_grad():
                    head.weight.copy_(weight)
                    head.bias.copy_(bias)
                self.heads.append(head)
            self.up = copy.deepcopy(fused.up)

        def forward(self, h):
            return self.up(F.gelu(torch.cat([head(h) for head in self.heads], dim=-1), approximate="tanh"))

    return PerHeadModification()


def with_per_head_modifications(model):
    """Replace every fused ΔH in ``model`` by its per-head loop (in place); returns the model."""
    from vlpet.pet.gated_sublayer import GatedSublayerModule
    from vlpet.pet.modification import MultiHeadModification

    for module in model.modules():
        if isinstance(module, GatedSublayerModule) and isinstance(module.modification, MultiHeadModification):
            module.modification = per_head_module(module.modification).requires_grad_(True)
    return model


def bare_frozen_model(config, device: str):
    """The backbone frozen as under ``config``'s VL-PET, with no modules: only its norms and projector train."""
    import torch

    from vlpet.models.vl_model import build_vl_model
    from vlpet.pet.registry import apply_pet

    torch.manual_seed(config.seed)
    model = build_vl_model(config.backbone, config.visual_feat_dim, config.visual_grid, config.dropout,
                           pretrained=False)
    settings = dataclasses.replace(config.pet_settings(), placement=(), granularity=None)
    return apply_pet(model, settings).to(device)


def model_overhead(settings: dict[str, Any], backbone: str, per_head: bool = True) -> dict[str, Any]:
    """In a fresh process: step times of the bare frozen backbone, VL-PET-large and (``per_head``) VL-PET-large
    with per-head loops, interleaved."""
    from vlpet.build import build_trial_model

    settings = settings_from(settings)
    set_threads(settings)
    config = trial_config(backbone, {"method": "vl-pet", "granularity": "large"}, settings.size)
    device = settings.device
    steps = {"frozen backbone": build_step(config, device, settings.size, bare_frozen_model(config, device)),
             "vl-pet-large": build_step(config, device, settings.size)}
    if per_head:
        model = with_per_head_modifications(build_trial_model(config, pretrained=False)).to(device)
        steps["vl-pet-large, per-head loop"] = build_step(config, device, settings.size, model)
    return interleaved(steps, settings.repeats, settings.warmups, device_sync(device))


def micro_modules(d_model: int, bottleneck: int, heads: int, device: str):
    """A fused GatedSublayerModule (ΔH + large gate) and its per-head twin with the same weights."""
    import torch

    from vlpet.pet.gated_sublayer import GatedSublayerModule
    from vlpet.pet.gates import build_gate
    from vlpet.pet.modification import MultiHeadModification

    torch.manual_seed(0)
    modification = MultiHeadModification(d_model, bottleneck, heads)
    gate = build_gate("large", d_model, bottleneck)
    for module in (modification, gate):
        module.reset_parameters("normal")
    fused = GatedSublayerModule(modification, gate, 1.0).to(device)
    loop = GatedSublayerModule(per_head_module(modification), copy.deepcopy(gate), 1.0).to(device)
    return fused, loop


def fused_vs_per_head(settings: dict[str, Any], d_model: int, bottleneck: int, heads: int, batch: int,
                      tokens: int) -> dict[str, Any]:
    """Forward (no grad) and forward+backward times of the fused module and the per-head loop on X, H of shape
    [batch, tokens, d_model] that require grad (as in a step, where trainable norms sit below)."""
    import torch

    from vlpet.train.allocator import keep_freed_memory

    settings = settings_from(settings)
    set_threads(settings)
    device = settings.device
    if device == "cpu":
        keep_freed_memory()              # as in a training process (vlpet.train.runtime)
    fused, loop = micro_modules(d_model, bottleneck, heads, device)
    x, h = (torch.randn(batch, tokens, d_model, device=device, requires_grad=True) for _ in range(2))
    grad = torch.randn(batch, tokens, d_model, device=device)

    def forward(module):
        def run():
            with torch.no_grad():
                module(x, h)
        return run

    def forward_backward(module):
        def run():                                   # gradients start from None each step, as in training
            module.zero_grad(set_to_none=True)
            x.grad = h.grad = None
            module(x, h).backward(grad)
        return run

    sync = device_sync(device)
    repeats, inner = MICRO_REPEATS[settings.scale], MICRO_INNER[settings.scale]
    result = {}
    for name, make in (("forward", forward), ("forward+backward", forward_backward)):
        times = interleaved({"fused": make(fused), "per-head loop": make(loop)}, repeats, settings.warmups, sync,
                            inner)
        result[name] = {**times, "speedup": paired_ratio(times["per-head loop"], times["fused"])}
    return result


def micro_shapes(settings: Settings) -> dict[str, dict[str, int]]:
    """The ΔH + G input of a BART-sized step (all B·L tokens), and of a single example (launch-bound)."""
    size = settings.size
    tokens = size.text_tokens + size.visual_tokens
    d_model, bottleneck = {"full": (768, 96), "quick": (128, 32), "tiny": (64, 8)}[settings.scale]
    common = {"d_model": d_model, "bottleneck": bottleneck, "heads": 4, "tokens": tokens}
    return {"step batch": {**common, "batch": size.batch}, "one example": {**common, "batch": 1}}


def run(settings: Settings) -> dict[str, Any]:
    backbone = settings.size.backbones[0]
    steps = in_child("benchmarks.module_overhead:model_overhead", settings=settings.as_dict(), backbone=backbone)
    defaults = in_child("benchmarks.module_overhead:model_overhead", env=GLIBC_DEFAULTS,
                        settings=settings.as_dict(), backbone=backbone, per_head=False)
    frozen = steps["frozen backbone"]
    model = {"backbone": backbone, "step_s": steps,
             "vl-pet-large / frozen backbone": paired_ratio(steps["vl-pet-large"], frozen),
             "per-head loop / frozen backbone": paired_ratio(steps["vl-pet-large, per-head loop"], frozen),
             "glibc allocator defaults": {"env": GLIBC_DEFAULTS, "step_s": defaults,
                                          "vl-pet-large / frozen backbone": paired_ratio(
                                              defaults["vl-pet-large"], defaults["frozen backbone"])}}
    micro = {name: {"shape": shape, **in_child("benchmarks.module_overhead:fused_vs_per_head",
                                                 settings=settings.as_dict(), **shape)}
             for name, shape in micro_shapes(settings).items()}
    step_micro = micro["step batch"]
    where = f"{backbone}, batch {settings.size.batch}"
    return {"figures": {"model": model, "fused_vs_per_head": micro},
            "notes": "step times interleaved in one process; ratios are medians of the per-repeat ratios; "
                     "the training runtime keeps freed memory in the process (vlpet.train.allocator); 'glibc "
                     "allocator defaults' repeats the comparison with that turned off; micro-benchmark: median of "
                     f"{MICRO_REPEATS[settings.scale]} repeats of {MICRO_INNER[settings.scale]} calls, interleaved",
            "targets": [
                target("vl-pet-large step / frozen backbone step", model["vl-pet-large / frozen backbone"], "<=",
                       1.10, where),
                target("fused ΔH + G speed-up over the per-head loop (forward+backward)",
                       step_micro["forward+backward"]["speedup"], ">=", 1.5,
                       f"{where}, {step_micro['shape']['tokens']} tokens, d={step_micro['shape']['d_model']}"),
            ]}
