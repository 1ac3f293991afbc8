"""Where PET modules go: a per-architecture table of sub-layer paths, and hook-based injection.

Nothing is forked: modules are attached to the unmodified Hugging Face model with forward hooks, so the
backbone's own residual adds, dropouts and norms run where they always do. A sub-layer site is described by
two module paths relative to a layer: ``x_from``, whose first input is the sub-layer input X, and ``h_from``,
whose output (or output[0]) is the raw sub-layer output H. The paths come from the backbone family's record
(``vlpet.models.families``): adding an architecture is one record there.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vlpet.models.families import Layout, SublayerSite, family_of_model
from vlpet.pet.sites import ATTENTION_PLACEMENTS, PLACEMENTS  # noqa: F401 (PLACEMENTS re-exported)


def architecture_of(model: nn.Module) -> Layout:
    """The module layout of a Hugging Face model, from its family's record (chosen by ``config.model_type``)."""
    try:
        return family_of_model(model).layout
    except ValueError as error:
        raise ValueError(f"no placement table: {error}") from None


def stack_layers(model: nn.Module, placement: str) -> list[nn.Module]:
    """The encoder or decoder layers a placement refers to."""
    table = architecture_of(model)
    path = table.encoder_layers if placement.startswith("encoder.") else table.decoder_layers
    return list(model.get_submodule(path))


def attention_projections(model: nn.Module, placements: tuple[str, ...] = ATTENTION_PLACEMENTS) -> list[str]:
    """Module names of the query and value projections of every attention at ``placements``, in layer order."""
    table = architecture_of(model)
    names = []
    for placement in placements:
        path = table.encoder_layers if placement.startswith("encoder.") else table.decoder_layers
        for index in range(len(model.get_submodule(path))):
            names += [f"{path}.{index}.{table.sites[placement].h_from}.{proj}" for proj in table.query_value]
    return names


def layer_norm_modules(model: nn.Module, stacks: tuple[str, ...] = ("encoder",)) -> list[nn.Module]:
    """The norm modules of the given stacks (per-layer norms and the stack-level ones), in order."""
    table = architecture_of(model)
    found: list[nn.Module] = []
    for stack in stacks:
        layers_path = table.encoder_layers if stack == "encoder" else table.decoder_layers
        names = table.encoder_layer_norms if stack == "encoder" else table.decoder_layer_norms
        for layer in model.get_submodule(layers_path):
            found.extend(layer.get_submodule(name) for name in names)
        stack_norms = table.encoder_stack_norms if stack == "encoder" else table.decoder_stack_norms
        found.extend(model.get_submodule(path) for path in stack_norms)
    return found


def _first_input(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _replace_first_output(output, new: torch.Tensor):
    if isinstance(output, tuple):
        return (new,) + tuple(output[1:])
    return new


def attach_sublayer_module(layer: nn.Module, site: SublayerSite, module: nn.Module) -> list:
    """Hook ``module(x, h) -> h_new`` into one sub-layer so the layer continues with h_new instead of H.

    X is captured by a pre-hook on ``site.x_from`` and consumed by the output hook on ``site.h_from``.
    Returns the hook handles.
    """
    x_module = layer.get_submodule(site.x_from)
    h_module = layer.get_submodule(site.h_from)
    stash: dict[str, torch.Tensor] = {}

    def capture_x(_mod, args, kwargs):
        stash["x"] = _first_input(args, kwargs)

    def replace_h(_mod, args, kwargs, output):
        x = stash.pop("x")
        h = output[0] if isinstance(output, tuple) else output
        return _replace_first_output(output, module(x, h))

    return [
        x_module.register_forward_pre_hook(capture_x, with_kwargs=True),
        h_module.register_forward_hook(replace_h, with_kwargs=True),
    ]


def attach_parallel_module(projection: nn.Module, module: Callable[[torch.Tensor], torch.Tensor]) -> list:
    """Hook ``module`` in parallel to a projection: y = projection(e) + module(e)."""

    def add_parallel(_mod, args, kwargs, output):
        return output + module(_first_input(args, kwargs))

    return [projection.register_forward_hook(add_parallel, with_kwargs=True)]
