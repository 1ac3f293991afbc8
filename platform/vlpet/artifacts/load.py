"""Rebuild an exported adapter's VL model with no study directory: :func:`load_adapter`.

An export directory says how it was written in ``vlpet_adapter.json`` (``layout``):

- ``native``: ``pet.safetensors`` holds every trainable tensor by vlpet parameter name (its metadata names the
  method and carries the trial config); the model is ``build_trial_model(trial_config)`` with those tensors.
- ``peft``: ``adapter_config.json`` + ``adapter_model.safetensors`` in PEFT's own layout over the Hugging Face
  backbone, loaded here by ``PeftModel.from_pretrained`` itself; ``vlpet_extra.safetensors`` holds what the VL
  model needs beyond the adapter (the visual projector, trained norms), by vlpet parameter name.
- ``merged`` (``DIR/merged``): a plain Hugging Face checkpoint of the merged backbone plus ``vlpet_extra``.

A trial artifact (``STUDY_DIR/artifacts/<trial_id>``) or a ``vlpet train --out`` directory loads as native.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import torch

from vlpet.errors import ConfigError

ADAPTER_FILE = "vlpet_adapter.json"
EXTRA_FILE = "vlpet_extra.safetensors"
TOKENIZER_DIR = "tokenizer"
MERGED_DIR = "merged"
BACKBONE_DIR = "backbone"
FORMAT = "vlpet-adapter/1"


def read_description(directory: str) -> dict[str, Any] | None:
    """``vlpet_adapter.json`` of an export directory (None where ``directory`` is not one)."""
    path = os.path.join(directory, ADAPTER_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            described = json.load(handle)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: unreadable ({error})") from None
    if not isinstance(described, dict) or described.get("layout") not in ("native", "peft", "merged"):
        raise ConfigError(f"{path}: not a vlpet adapter description (layout native, peft or merged)")
    return described


def with_backbone(config, backbone: str | None):
    """``config`` with another base model (a checkpoint directory or name) where ``backbone`` is given."""
    if not backbone:
        return config
    from vlpet.trial_config import TrialConfig

    return TrialConfig.from_dict({**config.to_dict(), "backbone": backbone})


def base_vl_model(config):
    """The VL model of ``config`` before any PET method, initialised exactly as ``build_trial_model`` does."""
    from vlpet.data.registry import resolve_backbone
    from vlpet.models.vl_model import build_vl_model

    backbone = resolve_backbone(config.backbone)
    torch.manual_seed(config.seed)
    return build_vl_model(backbone, config.visual_feat_dim, config.visual_grid, config.dropout)


def native_model(config, weights: str):
    """``build_trial_model(config)`` with the trainable tensors of ``weights``; ConfigError where the file does not
    fit the config (another method, size or backbone)."""
    from vlpet.build import build_trial_model
    from vlpet.pet.state import load_pet_weights

    model = build_trial_model(config)
    try:
        load_pet_weights(model, weights)
    except ValueError as error:
        raise ConfigError(f"checkpoint does not match its config (method {config.method}): "
                          f"{' '.join(str(error).split())}") from None
    return model.eval()


def load_extra(model, path: str) -> None:
    """Copy the tensors of ``vlpet_extra.safetensors`` into ``model`` by name (every one must fit)."""
    from safetensors.torch import load_file

    state, own = load_file(path), model.state_dict()
    wrong = [n for n, t in state.items() if n not in own or own[n].shape != t.shape]
    if wrong:
        raise ConfigError(f"{path}: tensors {wrong[:5]} do not fit the rebuilt model")
    model.load_state_dict(state, strict=False)


def peft_model(config, directory: str):
    """The VL model whose backbone PEFT itself loads from ``directory`` (``PeftModel.from_pretrained``), with
    the extra tensors; returns (VL model, the PeftModel around its backbone)."""
    from peft import PeftModel

    model = base_vl_model(config)
    wrapped = PeftModel.from_pretrained(model.backbone, directory)  # injects into model.backbone in place
    load_extra(model, os.path.join(directory, EXTRA_FILE))
    return model.eval(), wrapped


def merged_model(config, directory: str):
    """The VL model over a merged backbone checkpoint (``DIR/merged``)."""
    from vlpet.models.vl_model import build_vl_model

    torch.manual_seed(config.seed)
    model = build_vl_model(os.path.join(directory, BACKBONE_DIR), config.visual_feat_dim, config.visual_grid,
                           config.dropout)
    load_extra(model, os.path.join(directory, EXTRA_FILE))
    return model.eval()


def load_adapter(directory: str, backbone: str | None = None, merged: bool = False):
    """The VL model (``VLSeq2Seq``, in eval mode) an export directory describes; its trial config is
    ``model.trial_config``. ``backbone``: the base model to load it onto (a checkpoint directory or name) instead
    of the one it was trained on; ``merged``: load ``DIR/merged`` instead of the adapter. Trial artifacts and
    ``vlpet train --out`` directories load too (as native adapters)."""
    from vlpet.artifacts.source import read_config, stage

    directory = str(directory)
    if merged:
        directory = os.path.join(directory, MERGED_DIR)
        if not os.path.isdir(directory):
            raise ConfigError(f"{os.path.dirname(directory)}: no merged/ checkpoint (export with --merge)")
    described = read_description(directory) if not _is_uri(directory) else None
    if described is None:
        with tempfile.TemporaryDirectory(prefix="vlpet-adapter-") as staged:
            stage(directory, staged)
            config = with_backbone(read_config(staged), backbone)
            model = native_model(config, os.path.join(staged, "pet.safetensors"))
    else:
        config = with_backbone(read_config(directory), backbone)
        if described["layout"] == "native":
            model = native_model(config, os.path.join(directory, "pet.safetensors"))
        elif described["layout"] == "peft":
            model = peft_model(config, directory)[0]
        else:
            model = merged_model(config, directory)
    model.trial_config = config
    return model


def _is_uri(location: str) -> bool:
    return "://" in location


def probe_logits(model, config, seed: int = 0) -> torch.Tensor:
    """Logits [B, L, V] of ``model`` on a fixed random probe batch shaped as ``config``'s task feeds it: the
    evidence that two builds compute the same function."""
    from vlpet.data.registry import get_task

    spec = get_task(config.tasks[0])
    vocab = model.backbone.get_input_embeddings().num_embeddings
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab, (2, 7), generator=generator)
    feats = None if config.text_only else torch.randn(2, spec.images, spec.feature_grid ** 2,
                                                      config.visual_feat_dim, generator=generator)
    decoder = torch.randint(4, vocab, (2, 4), generator=generator)
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), visual_feats=feats,
                     decoder_input_ids=decoder).logits.float()
