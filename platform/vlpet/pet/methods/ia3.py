"""(IA)³ (Liu et al., NeurIPS 2022, T-Few) through PEFT: learned vectors rescale the keys and values of each placed
attention and the inner activation of each placed feed-forward network,

    K' = l_k ⊙ K,   V' = l_v ⊙ V,   FFN(x) = W_out (l_ff ⊙ γ(W_in x)),

with l_k, l_v ∈ R^{d_kv·h} and l_ff ∈ R^{d_ff} initialised to 1 (the model starts unchanged). At the
``decoder.cross_attn.value`` site only the cross-attention's values are rescaled.

Targets come from the family's record: the value projection is its ``query_value[1]``; the key projection is named
like its query one with ``k`` for ``q`` (``q_proj``/``k_proj``, ``q``/``k``), checked to exist; l_ff scales the
input of the last Linear of the FFN site (BART ``fc2``, T5 ``wo``). PEFT's own IA3 table is not used: it wraps
BART's query projection instead of its key one. T-Few's learning rate 3e-3; backbone biases frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vlpet.errors import ConfigError
from vlpet.pet.methods.peft_common import inject, peft_config, site_linears
from vlpet.pet.options import MethodOptions
from vlpet.pet.placement import architecture_of, attention_projections, stack_layers
from vlpet.pet.registry import PETMethod
from vlpet.pet.settings import PETSettings
from vlpet.pet.sites import ATTENTION_PLACEMENTS, SEQUENTIAL_PLACEMENTS

IA3_LR = {"bart": 3e-3, "t5": 3e-3}


@dataclass(frozen=True)
class Ia3Options(MethodOptions):
    """(IA)³ has no hyper-parameter of its own: its size is set by ``placement`` alone."""


def key_projection(backbone: nn.Module, query: str) -> str:
    """The key projection next to the query projection ``query`` (``...q_proj`` → ``...k_proj``)."""
    parent, _, leaf = query.rpartition(".")
    key = f"{parent}.k{leaf[1:]}"
    try:
        found = leaf.startswith("q") and isinstance(backbone.get_submodule(key), nn.Linear)
    except AttributeError:
        found = False
    if not found:
        raise ConfigError(f"placement: ia3 finds no key projection next to {query} (expected {key}); use method "
                          "peft with peft: {peft_type: IA3, target_modules: [...], feedforward_modules: [...]}")
    return key


def ia3_targets(backbone: nn.Module, placement: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(target_modules, feedforward_modules)``: k and v of each placed attention, the value projection at the
    value site, the output Linear of each placed FFN (whose input is scaled)."""
    targets: list[str] = []
    feedforward: list[str] = []
    for site in placement:
        if site in ATTENTION_PLACEMENTS:
            projections = attention_projections(backbone, (site,))
            for query, value in zip(projections[0::2], projections[1::2]):
                targets += [key_projection(backbone, query), value]
        elif site == "decoder.cross_attn.value":
            targets += [name for name, _ in site_linears(backbone, site)]
        else:
            feedforward += ffn_outputs(backbone, site)
    unique = list(dict.fromkeys(targets + feedforward))  # cross_attn and its value site may both be placed
    return unique, feedforward


def ffn_outputs(backbone: nn.Module, site: str) -> list[str]:
    """The last Linear of an FFN site in each layer of its stack (BART ``fc2``, T5 ``DenseReluDense.wo``)."""
    table = architecture_of(backbone)
    stack = table.encoder_layers if site.startswith("encoder.") else table.decoder_layers
    path = table.sites[site].h_from
    found = []
    for index, layer in enumerate(stack_layers(backbone, site)):
        found.append([name for name, module in layer.get_submodule(path).named_modules(
            prefix=f"{stack}.{index}.{path}") if isinstance(module, nn.Linear)][-1])
    return found


def apply_ia3(vl_model: nn.Module, settings: PETSettings) -> list[nn.Module | nn.Parameter]:
    """Injects PEFT (IA)³ layers; returns their scaling vectors."""
    targets, feedforward = ia3_targets(vl_model.backbone, settings.placement)
    config = peft_config({"peft_type": "IA3", "target_modules": targets, "feedforward_modules": feedforward},
                         key="ia3")
    return inject(vl_model.backbone, config)


METHOD = PETMethod(
    "ia3", "(IA)³ (PEFT): learned vectors rescale keys, values and the FFN's inner activation", apply_ia3,
    Ia3Options,
    reads=("placement", "train_norms"),
    defaults=lambda paper, granularity: {"lr": IA3_LR[paper], "placement": list(SEQUENTIAL_PLACEMENTS),
                                         "train_norms": "none"},
)
