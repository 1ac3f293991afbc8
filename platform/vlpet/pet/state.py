"""PET-only checkpoints: the trainable tensors alone, in safetensors, reloadable into a fresh build.

Weights quantised by ``adapter_bits`` are stored packed: ``<name>.codes`` (uint8, 8 / b codes a byte) and
``<name>.scale`` (float32, one per channel), or float16 at 16 bits, with their layout in the file's metadata; so
the file is the trial's ``adapter_bytes`` plus the safetensors header. Loading restores the latent weight to the
dequantised value, which the quantiser maps to itself: the reloaded model gives the same outputs.
"""

from __future__ import annotations

import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from vlpet.pet.quant import dequantize, pack_codes, quantised_parameters, quantize, unpack_codes

PACKED_KEY = "vlpet_packed"  # metadata entry: name → {"bits", "shape"} of each packed weight


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Name → detached CPU copy of every trainable parameter (shared tensors once, first name wins)."""
    params = dict(model.named_parameters())
    return {name: params[name].detach().to("cpu").contiguous().clone() for name in trainable_state_dict_names(model)}


def save_pet_weights(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None,
                     packed: bool = True) -> None:
    """Write the trainable tensors to ``path`` (safetensors), atomically; quantised weights packed unless
    ``packed=False`` (then their full-precision latent values, e.g. to resume quantisation-aware training)."""
    tmp = f"{path}.tmp"
    state, metadata = trainable_state_dict(model), dict(metadata or {})
    if packed:
        state, layout = pack_state(model, state)
        if layout:
            metadata[PACKED_KEY] = json.dumps(layout)
    save_file(state, tmp, metadata=metadata or None)
    os.replace(tmp, path)


def pack_state(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """``state`` with each weight ``adapter_bits`` quantises replaced by its packed form, and the layout."""
    params, bits = dict(model.named_parameters()), quantised_parameters(model)
    packed, layout = {}, {}
    for name, tensor in state.items():
        width = bits.get(id(params[name]))
        if width is None:
            packed[name] = tensor
        elif width == 16:
            packed[name], layout[name] = tensor.half(), {"bits": 16, "shape": list(tensor.shape)}
        else:
            codes, scale = quantize(tensor, width)
            packed[f"{name}.codes"], packed[f"{name}.scale"] = pack_codes(codes, width), scale.contiguous()
            layout[name] = {"bits": width, "shape": list(tensor.shape)}
    return packed, layout


def read_pet_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a PET-only checkpoint by parameter name, packed weights dequantised to float32."""
    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        layout = json.loads((handle.metadata() or {}).get(PACKED_KEY, "{}"))
    for name, info in layout.items():
        if info["bits"] == 16:
            state[name] = state[name].float()
        else:
            codes = unpack_codes(state.pop(f"{name}.codes"), info["bits"], tuple(info["shape"]))
            state[name] = dequantize(codes, state.pop(f"{name}.scale"), info["bits"])
    return state


def load_pet_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> list[str]:
    """Copy saved trainable tensors into ``model``; returns the names loaded.

    With ``strict`` every saved tensor must exist in the model with the same shape and every trainable
    parameter must be present in the file; the error lists what differs.
    """
    state = read_pet_weights(path)
    params = dict(model.named_parameters())
    missing = [n for n in trainable_state_dict_names(model) if n not in state]
    unknown = [n for n in state if n not in params]
    mismatched = [n for n in state if n in params and params[n].shape != state[n].shape]
    if strict and (missing or unknown or mismatched):
        raise ValueError(
            f"PET checkpoint {path} does not match the model: missing {missing[:5]}, unexpected {unknown[:5]}, "
            f"shape mismatch {mismatched[:5]} (is the trial config the one it was trained with?)"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            if name in params and params[name].shape == tensor.shape:
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))
    return [n for n in state if n in params]


def trainable_state_dict_names(model: nn.Module) -> list[str]:
    """Names that :func:`trainable_state_dict` would save, without copying tensors."""
    seen: set[int] = set()
    names = []
    for name, param in model.named_parameters():
        if param.requires_grad and id(param) not in seen:
            seen.add(id(param))
            names.append(name)
    return names
