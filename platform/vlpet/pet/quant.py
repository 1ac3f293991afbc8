"""Low-bit PET modules (``adapter_bits``, ``adapter_quant``): the weights of the modules vlpet owns, stored and run
at 16, 8, 4, 2 or 1 bits.

Quantised: the ``weight`` of every Linear inside a PET module (ΔH's down/up projections, the gates, value
adapters, adapters, the prompt generator), the PHM weights of Compacter's layers, and LoRA's A and B. Kept in
full precision: every bias, the PHM rules, norms, the visual projector, and the layers of the PEFT-backed methods.

For b ≤ 8 bits, each output channel c of a weight W (its row; a PHM summand) has its own scale s_c:

    b ≥ 2:  Q(W)_c = s_c · clamp(round(W_c / s_c), −q, q),  q = 2^{b−1} − 1,  s_c = max|W_c| / q
    b = 1:  Q(W)_c = s_c · sign(W_c),                          s_c = mean|W_c|

(at most 2^b − 1, and for one bit 2, distinct values per channel); 16 bits is IEEE half precision. Training
sees Q through a straight-through estimator, W + (Q(W) − W) with the difference detached, so gradients reach the
latent full-precision W unchanged. ``qat`` quantises in training and evaluation; ``ptq`` trains in full precision
and quantises in evaluation mode only, so every evaluation and the saved checkpoint are the quantised model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from vlpet.pet.settings import ADAPTER_BITS, ADAPTER_QUANT  # noqa: F401 (the allowed values, re-exported)


def quantize(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer codes in [0, 2^b) (same shape as ``weight``) and per-channel scales [C] for b ≤ 8 bits."""
    rows = weight.detach().reshape(weight.shape[0], -1).float()
    if bits == 1:
        scale = rows.abs().mean(dim=1)
        codes = (rows >= 0).to(torch.uint8)
    else:
        levels = 2 ** (bits - 1) - 1
        scale = rows.abs().amax(dim=1) / levels
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero channel stays zero
        codes = (torch.round(rows / safe[:, None]).clamp(-levels, levels) + levels).to(torch.uint8)
    return codes.reshape(weight.shape), scale


def dequantize(codes: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """The float32 weight the codes and scales stand for."""
    rows = codes.reshape(codes.shape[0], -1).float()
    values = rows * 2 - 1 if bits == 1 else rows - (2 ** (bits - 1) - 1)
    return (values * scale[:, None]).reshape(codes.shape)


def fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Q(W) in ``weight``'s dtype (no gradient of its own: see :class:`FakeQuant`)."""
    if bits == 32:
        return weight
    if bits == 16:
        return weight.detach().half().to(weight.dtype)
    return dequantize(*quantize(weight, bits), bits).to(weight.dtype)


class FakeQuant(nn.Module):
    """A parametrization ``W ↦ W + (Q(W) − W).detach()``: the forward pass sees Q(W), the gradient is the identity
    (straight-through). With ``mode="ptq"`` it is the identity while the module trains."""

    def __init__(self, bits: int, mode: str = "qat") -> None:
        super().__init__()
        self.bits, self.mode = bits, mode

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.bits == 32 or (self.mode == "ptq" and self.training) or weight.is_meta:
            return weight
        return weight + (fake_quantize(weight, self.bits) - weight).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode}"


def quantisable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every tensor ``adapter_bits`` applies to (see the module docstring)."""
    from vlpet.pet.base import PETModule
    from vlpet.pet.phm import PHMLinear

    owners = [m for m in model.modules() if isinstance(m, PETModule) or getattr(m, "component", None) == "lora"]
    found: dict[int, tuple[nn.Module, str]] = {}
    for owner in owners:
        for module in owner.modules():
            if isinstance(module, (nn.Linear, PHMLinear)) and isinstance(module.weight, nn.Parameter):
                found.setdefault(id(module), (module, "weight"))
    return list(found.values())


def quantise_pet_weights(model: nn.Module, bits: int, mode: str) -> int:
    """Parametrize every quantisable weight of ``model`` with :class:`FakeQuant`; returns how many tensors."""
    targets = quantisable_weights(model) if bits < 32 else []
    for module, name in targets:
        parametrize.register_parametrization(module, name, FakeQuant(bits, mode))
    return len(targets)


def quantised_parameters(model: nn.Module) -> dict[int, int]:
    """id(latent parameter) → its bits, for every weight :func:`quantise_pet_weights` parametrized."""
    found = {}
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for plist in module.parametrizations.values():
                quantisers = [p for p in plist if isinstance(p, FakeQuant)]
                if quantisers:
                    found[id(plist.original)] = quantisers[0].bits
    return found


def stored_bytes(param: torch.Tensor, bits: int | None) -> int:
    """Bytes to store ``param`` at ``bits`` (None: as it is): packed codes plus one float32 scale per channel below
    16 bits; two bytes an entry at 16."""
    if bits is None or bits == 32:
        return param.numel() * param.element_size()
    if bits == 16:
        return param.numel() * 2
    return -(-param.numel() * bits // 8) + 4 * param.shape[0]


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes in [0, 2^b) → uint8 bytes holding 8 / b codes each (b in 1, 2, 4, 8), zero-padded at the end."""
    per_byte = 8 // bits
    flat = codes.reshape(-1).to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros(-flat.numel() % per_byte)]).reshape(-1, per_byte)
    shifts = torch.arange(per_byte, dtype=torch.uint8) * bits
    return (flat << shifts).sum(dim=1, dtype=torch.int32).to(torch.uint8)


def unpack_codes(packed: torch.Tensor, bits: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The inverse of :func:`pack_codes` for a tensor of ``shape``."""
    per_byte = 8 // bits
    shifts = torch.arange(per_byte, dtype=torch.uint8) * bits
    codes = (packed[:, None] >> shifts) & (2 ** bits - 1)
    return codes.reshape(-1)[: torch.Size(shape).numel()].reshape(shape)
