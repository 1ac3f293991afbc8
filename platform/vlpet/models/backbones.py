"""Known backbone architectures, embedded so they can be built and counted without a download, and the
``from_pretrained`` path for any local checkpoint or hub name.

The VL vocabulary follows vlpet_spec §1.1: BART gains ``<extra_id_*>`` and ``<vis_extra_id_*>`` (+200 rows,
50,265 → 50,465); T5 is resized to the VL-T5 tokenizer size (32,000 pieces + 100 + 100 = 32,200).
"""

from __future__ import annotations

import os

import torch
from vlpet.errors import ConfigError
from transformers import AutoConfig, AutoModelForSeq2SeqLM, PretrainedConfig, PreTrainedModel

from vlpet.models.families import BackboneSpec, family_of, family_record, hub_aliases, known_architectures
from vlpet.vocabulary import VL_VOCAB_FLAG, vl_special_tokens

BACKBONES: dict[str, BackboneSpec] = known_architectures()
# Hub names whose architecture is embedded above: counted offline (meta device) without a download.
HUB_ALIASES = hub_aliases()


def _with_dropout(config: PretrainedConfig, dropout: float) -> PretrainedConfig:
    """vlpet_spec §1.1: dropout 0.1 everywhere, attention and activation dropout included."""
    for key in family_record(config.model_type).dropout_keys:
        setattr(config, key, dropout)
    return config


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
    return family_record(config.model_type).vl_vocab_size(config, extended_tokenizer_size)


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
    """
    meta = device is not None and torch.device(device).type == "meta"
    if (meta or not pretrained) and backbone in HUB_ALIASES:
        return load_backbone(HUB_ALIASES[backbone], device=device, dropout=dropout)
    if backbone in BACKBONES:
        spec = BACKBONES[backbone]
        family = family_record(spec.family)
        config = _with_dropout(family.config_type()(**{**spec.config, "vocab_size": spec.vl_vocab_size}), dropout)
        setattr(config, VL_VOCAB_FLAG, True)
        with torch.device(device or "cpu"):
            return family.model_type_class()(config)
    try:
        family_of(backbone)  # clear error for unsupported architectures
    except ValueError as error:
        raise ConfigError(str(error)) from None
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
