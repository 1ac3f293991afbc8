"""Known backbone architectures, embedded so they can be built and counted without a download, and the
``from_pretrained`` path for any local checkpoint or hub name.

The VL vocabulary follows vlpet_spec §1.1: BART gains ``<extra_id_*>`` and ``<vis_extra_id_*>`` (+200 rows,
50,265 → 50,465); T5 is resized to the VL-T5 tokenizer size (32,000 pieces + 100 + 100 = 32,200).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from vlpet.errors import ConfigError
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    BartConfig,
    BartForConditionalGeneration,
    PretrainedConfig,
    PreTrainedModel,
    T5Config,
    T5ForConditionalGeneration,
)

EXTRA_TOKENS = 100  # <extra_id_0..99>
VISUAL_EXTRA_TOKENS = 100  # <vis_extra_id_0..99>
VL_VOCAB_FLAG = "vl_vocab_extended"  # set in configs of checkpoints whose vocabulary already holds the VL tokens
FAMILIES = {
    "bart": (BartConfig, BartForConditionalGeneration),
    "t5": (T5Config, T5ForConditionalGeneration),
}


@dataclass(frozen=True)
class BackboneSpec:
    """A named architecture: its family, its public hyper-parameters and its VL vocabulary size."""

    name: str
    family: str
    config: dict[str, Any] = field(default_factory=dict)
    vl_vocab_size: int = 0
    description: str = ""


_BART_BASE = dict(
    vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
    decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024,
    activation_function="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    forced_bos_token_id=0, forced_eos_token_id=2, scale_embedding=False, init_std=0.02,
)
_T5_BASE = dict(
    vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
_TINY_BART = dict(
    vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=256,
    activation_function="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    forced_bos_token_id=None, forced_eos_token_id=2, scale_embedding=False, init_std=0.02,
)
_SMALL_BART = dict(_TINY_BART, d_model=128, encoder_ffn_dim=512, decoder_ffn_dim=512)
_SMALL_T5 = dict(
    vocab_size=1000, d_model=128, d_kv=32, d_ff=512, num_layers=2, num_decoder_layers=2, num_heads=4,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
_TINY_T5 = dict(
    vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)

BACKBONES: dict[str, BackboneSpec] = {
    "bart-base": BackboneSpec("bart-base", "bart", _BART_BASE, 50265 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                              "facebook/bart-base architecture (VL-BART)"),
    "t5-base": BackboneSpec("t5-base", "t5", _T5_BASE, 32000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                            "t5-base architecture (VL-T5)"),
    "tiny-bart": BackboneSpec("tiny-bart", "bart", _TINY_BART, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                              "2+2-layer d=64 BART for tests"),
    "small-bart": BackboneSpec("small-bart", "bart", _SMALL_BART, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                               "2+2-layer d=128 BART for the quickstart"),
    "small-t5": BackboneSpec("small-t5", "t5", _SMALL_T5, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                             "2+2-layer d=128 T5 for the quickstart"),
    "tiny-t5": BackboneSpec("tiny-t5", "t5", _TINY_T5, 1000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS,
                            "2+2-layer d=64 T5 for tests"),
}


# Hub names whose architecture is embedded above: counted offline (meta device) without a download.
HUB_ALIASES = {"facebook/bart-base": "bart-base", "google-t5/t5-base": "t5-base"}
QUICKSTART_PREFIX = "quickstart:"  # "quickstart:tiny-bart" = tiny-bart pretrained on the quickstart's text


def family_of(backbone: str) -> str:
    """``"bart"`` or ``"t5"`` for a known name, a local checkpoint (its config.json) or a hub name."""
    backbone = HUB_ALIASES.get(backbone, backbone.removeprefix(QUICKSTART_PREFIX))
    if backbone in BACKBONES:
        return BACKBONES[backbone].family
    config_path = os.path.join(backbone, "config.json")
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type", "")
    else:
        lowered = backbone.lower()
        model_type = "t5" if "t5" in lowered else "bart" if "bart" in lowered else ""
    if model_type not in FAMILIES:
        raise ValueError(
            f"backbone {backbone!r}: cannot tell its architecture (model_type {model_type!r}); "
            f"supported families: {', '.join(FAMILIES)}; known names: {', '.join(BACKBONES)}"
        )
    return model_type


def _with_dropout(config: PretrainedConfig, dropout: float) -> PretrainedConfig:
    """vlpet_spec §1.1: dropout 0.1 everywhere, attention and activation dropout included."""
    if config.model_type == "bart":
        config.dropout = config.attention_dropout = config.activation_dropout = dropout
    else:
        config.dropout_rate = dropout
    return config


def vl_special_tokens() -> list[str]:
    """The VL-T5 extra tokens, in the order the paper's trainer adds them."""
    return [f"<extra_id_{i}>" for i in range(EXTRA_TOKENS - 1, -1, -1)] + [
        f"<vis_extra_id_{i}>" for i in range(VISUAL_EXTRA_TOKENS - 1, -1, -1)
    ]


def extend_tokenizer(tokenizer) -> int:
    """Add whichever VL extra tokens a tokenizer lacks (as special tokens); returns its new length."""
    vocab = tokenizer.get_vocab()
    missing = [token for token in vl_special_tokens() if token not in vocab]
    if missing:
        tokenizer.add_special_tokens({"extra_special_tokens": missing}, replace_extra_special_tokens=False)
    return len(tokenizer)


def vl_vocab_size_for(config: PretrainedConfig, extended_tokenizer_size: int | None) -> int:
    """Embedding rows for a checkpoint once its tokenizer holds the VL extra tokens (vlpet_spec §1.1).

    A checkpoint saved by vlpet carries ``vl_vocab_extended: true`` in its config and is kept as it is.
    """
    if getattr(config, VL_VOCAB_FLAG, False):
        return config.vocab_size
    if extended_tokenizer_size:
        return max(config.vocab_size, extended_tokenizer_size) if config.model_type == "t5" else extended_tokenizer_size
    if config.model_type == "t5" and config.vocab_size == 32128:  # stock T5: 32,000 pieces + 100 extra ids
        return 32000 + EXTRA_TOKENS + VISUAL_EXTRA_TOKENS
    return config.vocab_size + (EXTRA_TOKENS if config.model_type == "bart" else 0) + VISUAL_EXTRA_TOKENS


def _tokenizer_size(path: str) -> int | None:
    """Length of a local checkpoint's tokenizer once extended with the VL tokens; None when it has none."""
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "spiece.model")
    if not any(os.path.isfile(os.path.join(path, name)) for name in tokenizer_files):
        return None
    try:
        from transformers import AutoTokenizer

        return extend_tokenizer(AutoTokenizer.from_pretrained(path))
    except (OSError, ValueError):
        return None


def load_backbone(
    backbone: str, device: str | torch.device | None = None, dropout: float = 0.1, pretrained: bool = True
) -> PreTrainedModel:
    """Build the Hugging Face encoder-decoder with the VL vocabulary.

    Known names are built from their embedded config (random weights; use a checkpoint path for real
    weights). Any other string goes through ``from_pretrained`` (local directory or hub name) unless
    ``pretrained=False`` or ``device="meta"``, which build from the config alone (for counting).
    ``quickstart:<name>`` is the tiny backbone pretrained on the quickstart's text (built once, cached).
    """
    meta = device is not None and torch.device(device).type == "meta"
    if (meta or not pretrained) and backbone in HUB_ALIASES:
        return load_backbone(HUB_ALIASES[backbone], device=device, dropout=dropout)
    if backbone.startswith(QUICKSTART_PREFIX):
        name = backbone.removeprefix(QUICKSTART_PREFIX)
        if meta or not pretrained:  # same architecture and vocabulary as the named tiny backbone
            return load_backbone(name, device=device, dropout=dropout)
        from vlpet.data.quickstart import quickstart_backbone

        backbone = str(quickstart_backbone(name))
    if backbone in BACKBONES:
        spec = BACKBONES[backbone]
        config_cls, model_cls = FAMILIES[spec.family]
        config = _with_dropout(config_cls(**{**spec.config, "vocab_size": spec.vl_vocab_size}), dropout)
        setattr(config, VL_VOCAB_FLAG, True)
        with torch.device(device or "cpu"):
            return model_cls(config)
    family_of(backbone)  # clear error for unsupported architectures
    try:
        config = _with_dropout(AutoConfig.from_pretrained(backbone), dropout)
    except OSError as error:
        raise ConfigError(
            f"backbone {backbone!r} is not a known name ({', '.join(BACKBONES)}), not a local checkpoint "
            f"directory, and could not be loaded from the model hub: {error}"
        ) from None
    target_vocab = vl_vocab_size_for(config, _tokenizer_size(backbone))
    setattr(config, VL_VOCAB_FLAG, True)
    if meta or not pretrained:
        config.vocab_size = target_vocab
        with torch.device(device or "cpu"):
            return AutoModelForSeq2SeqLM.from_config(config)
    model = AutoModelForSeq2SeqLM.from_pretrained(backbone, config=config)
    if model.get_input_embeddings().num_embeddings != target_vocab:
        model.resize_token_embeddings(target_vocab)
    return model.to(device) if device is not None else model
