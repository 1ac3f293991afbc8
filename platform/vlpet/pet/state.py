"""PET-only checkpoints: the trainable tensors alone, in safetensors, reloadable into a fresh build."""

from __future__ import annotations

import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Name → detached CPU copy of every trainable parameter (shared tensors once, first name wins)."""
    params = dict(model.named_parameters())
    return {name: params[name].detach().to("cpu").contiguous().clone() for name in trainable_state_dict_names(model)}


def save_pet_weights(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write the trainable tensors to ``path`` (safetensors), atomically."""
    tmp = f"{path}.tmp"
    save_file(trainable_state_dict(model), tmp, metadata=metadata)
    os.replace(tmp, path)


def load_pet_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> list[str]:
    """Copy saved trainable tensors into ``model``; returns the names loaded.

    With ``strict`` every saved tensor must exist in the model with the same shape and every trainable
    parameter must be present in the file; the error lists what differs.
    """
    state = load_file(str(path))
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
