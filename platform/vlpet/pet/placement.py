"""Where PET modules go: a per-architecture table of sub-layer paths, and hook-based injection.

Nothing is forked: modules are attached to the unmodified Hugging Face model with forward hooks, so the
backbone's own residual adds, dropouts and norms run where they always do. A sub-layer site is described by
two module paths relative to a layer: ``x_from``, whose first input is the sub-layer input X, and ``h_from``,
whose output (or output[0]) is the raw sub-layer output H. Adding an architecture is one table entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from vlpet.pet.sites import ATTENTION_PLACEMENTS, PLACEMENTS  # noqa: F401 (PLACEMENTS re-exported)


@dataclass(frozen=True)
class SublayerSite:
    """One sub-layer inside a layer: X is the first input of ``x_from``, H the output of ``h_from``."""

    x_from: str
    h_from: str


@dataclass(frozen=True)
class ArchitectureTable:
    """Module paths of one encoder-decoder architecture in the installed transformers (5.x)."""

    encoder_layers: str
    decoder_layers: str
    sites: dict[str, SublayerSite]
    cross_attn_value: str
    encoder_layer_norms: tuple[str, ...]
    decoder_layer_norms: tuple[str, ...]
    encoder_stack_norms: tuple[str, ...]
    decoder_stack_norms: tuple[str, ...]
    word_embedding: str
    query_value: tuple[str, str]  # the query and value projections inside an attention module (LoRA targets)
    visual_insert_after: str | None = None  # BART: visual tokens join after this norm (see VLSeq2Seq)
    encoder_positions: str | None = None  # BART: the encoder's absolute position embedding (prompt tuning)


ARCHITECTURES: dict[str, ArchitectureTable] = {
    "bart": ArchitectureTable(
        encoder_layers="model.encoder.layers",
        decoder_layers="model.decoder.layers",
        sites={
            "encoder.attn": SublayerSite("self_attn", "self_attn"),
            "encoder.ffn": SublayerSite("fc1", "fc2"),
            "decoder.self_attn": SublayerSite("self_attn", "self_attn"),
            "decoder.cross_attn": SublayerSite("encoder_attn", "encoder_attn"),
            "decoder.ffn": SublayerSite("fc1", "fc2"),
        },
        cross_attn_value="encoder_attn.v_proj",
        encoder_layer_norms=("self_attn_layer_norm", "final_layer_norm"),
        decoder_layer_norms=("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"),
        encoder_stack_norms=("model.encoder.layernorm_embedding",),
        decoder_stack_norms=("model.decoder.layernorm_embedding",),
        word_embedding="model.shared",
        query_value=("q_proj", "v_proj"),
        visual_insert_after="model.encoder.layernorm_embedding",
        encoder_positions="model.encoder.embed_positions",
    ),
    "t5": ArchitectureTable(
        encoder_layers="encoder.block",
        decoder_layers="decoder.block",
        sites={
            "encoder.attn": SublayerSite("layer.0.layer_norm", "layer.0.SelfAttention"),
            "encoder.ffn": SublayerSite("layer.1.layer_norm", "layer.1.DenseReluDense"),
            "decoder.self_attn": SublayerSite("layer.0.layer_norm", "layer.0.SelfAttention"),
            "decoder.cross_attn": SublayerSite("layer.1.layer_norm", "layer.1.EncDecAttention"),
            "decoder.ffn": SublayerSite("layer.2.layer_norm", "layer.2.DenseReluDense"),
        },
        cross_attn_value="layer.1.EncDecAttention.v",
        encoder_layer_norms=("layer.0.layer_norm", "layer.1.layer_norm"),
        decoder_layer_norms=("layer.0.layer_norm", "layer.1.layer_norm", "layer.2.layer_norm"),
        encoder_stack_norms=("encoder.final_layer_norm",),
        decoder_stack_norms=("decoder.final_layer_norm",),
        word_embedding="shared",
        query_value=("q", "v"),
    ),
}


def architecture_of(model: nn.Module) -> ArchitectureTable:
    """The table entry for a Hugging Face model, chosen by ``config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"no placement table for model_type {model_type!r}; known: {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[model_type]


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
