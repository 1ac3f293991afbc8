"""What vlpet knows about one encoder-decoder family (torch-free): its Hugging Face classes, where its layers,
norms and embeddings sit, the sub-layer sites PET modules attach to, its vocabulary rule and the paper's
defaults for it. One record per family, in a module of its own next to this one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class SublayerSite:
    """One sub-layer inside a layer: X is the first input of ``x_from``, H the output of ``h_from``."""

    x_from: str
    h_from: str


@dataclass(frozen=True)
class Layout:
    """Module paths of one architecture in the installed transformers (5.x), relative to the HF model (stacks)
    or to one layer (sites, per-layer norms, the cross-attention value projection)."""

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


@dataclass(frozen=True)
class BackboneSpec:
    """A named architecture: its family, its public hyper-parameters and its VL vocabulary size."""

    name: str
    family: str
    config: dict[str, Any] = field(default_factory=dict)
    vl_vocab_size: int = 0
    description: str = ""
    hub_name: str = ""  # the model hub checkpoint with this architecture (counted offline under its name too)


@dataclass(frozen=True)
class BackboneFamily:
    """One encoder-decoder family, selected by a checkpoint's ``config.model_type``.

    ``config_class``/``model_class``/``norm_class``: dotted paths, imported on use. ``paper_setting``: whose
    paper hyper-parameters its trials take (``"bart"`` or ``"t5"``, vlpet_spec §4–5; a T5 variant takes
    ``"t5"``). ``paper_defaults``: r, s, init and lr of that setting. ``dropout_keys``: config attributes set to a
    trial's dropout. ``vl_vocab_size(config, tokenizer_size)``: embedding rows once the VL tokens are added.
    ``linear_biases``: whether its Linear layers and norms have biases. ``norm_class`` also serves the visual
    projector, with the epsilon at config key ``visual_eps_key`` (None: 1e-5); ``init_visual``: whether the
    projector takes the backbone's ``_init_weights``. ``architectures``: named sizes built without a download.
    """

    model_type: str
    config_class: str
    model_class: str
    norm_class: str
    layout: Layout
    paper_setting: str
    paper_defaults: dict[str, Any]
    dropout_keys: tuple[str, ...]
    vl_vocab_size: Callable[[Any, "int | None"], int]
    linear_biases: bool
    visual_eps_key: str | None = None
    init_visual: bool = False
    architectures: tuple[BackboneSpec, ...] = ()

    def config_type(self) -> type:
        return load_object(self.config_class)

    def model_type_class(self) -> type:
        return load_object(self.model_class)

    def norm_type(self) -> type:
        return load_object(self.norm_class)


def load_object(dotted: str) -> Any:
    """``"package.module.Name"`` → the object."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)
