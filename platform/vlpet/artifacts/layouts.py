"""Writing the two adapter layouts and the merged checkpoint, each checked by loading it back before it counts.

Every writer takes the trained VL model (``native_model`` of the kept weights) and a directory being filled;
each ends with a round trip: the written files are loaded the way a user loads them and must give the trained
model's logits on a probe batch (PEFT adapters: ``PeftModel.from_pretrained`` itself; see peft#2422, peft#2772).
"""

from __future__ import annotations

import copy
import json
import os

import torch
from safetensors.torch import save_file

from vlpet.artifacts.load import (BACKBONE_DIR, EXTRA_FILE, base_vl_model, load_extra, merged_model, native_model,
                                  peft_model, probe_logits)
from vlpet.errors import ConfigError

WEIGHTS = "pet.safetensors"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}        # the same function, up to float summation order
MERGE_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}  # merging re-associates W x + B A x into (W + B A) x
# PEFT tuners whose update is linear in the frozen weight (W' = W + ΔW or a per-channel scale), so merging
# reproduces the adapter exactly up to rounding; with BitFit and full fine-tuning (plain tensors) these are the
# methods --merge accepts.
MERGEABLE_PEFT = ("LORA", "IA3")


def uses_peft(model) -> bool:
    """Whether the model's method injected PEFT tuner layers (then the export is in PEFT's layout)."""
    return hasattr(model.backbone, "peft_config")


def check_same(expected: torch.Tensor, got: torch.Tensor, what: str, tolerance: dict) -> float:
    """The largest absolute logit difference; ConfigError (nothing written) beyond ``tolerance``."""
    difference = float((expected - got).abs().max())
    if expected.shape != got.shape or not torch.allclose(expected, got, **tolerance):
        raise ConfigError(f"{what} does not reproduce the trained model (largest logit difference {difference:.3g});"
                          " nothing was written")
    return difference


def write_native(model, config, directory: str, metadata: dict[str, str]) -> float:
    """``pet.safetensors`` (every trainable tensor by vlpet name, low-bit weights packed, the method and trial
    config in its metadata), reloaded through ``build_trial_model`` to check it."""
    from vlpet.pet.state import save_pet_weights

    path = os.path.join(directory, WEIGHTS)
    save_pet_weights(model, path, metadata={**metadata, "vlpet_method": config.method,
                                            "vlpet_trial_config": config.to_json()})
    return check_same(probe_logits(model, config), probe_logits(native_model(config, path), config),
                      "the native export", TOLERANCE)


def _peft_config(model, base_backbone):
    """The PEFT config the method injected with (PEFT keeps it on the backbone), set up to save every tensor PEFT
    can hold: LoRA's trained biases go in as ``bias: all`` where they are exactly the backbone's biases."""
    from vlpet.pet.methods.bitfit import existing_biases
    from vlpet.pet.state import trainable_state_dict_names

    config = copy.deepcopy(model.backbone.peft_config["default"])
    config.inference_mode = False
    config.base_model_name_or_path = getattr(base_backbone, "name_or_path", None) or None
    if config.peft_type.value == "LORA" and config.bias == "none":
        trained = set(trainable_state_dict_names(model.backbone))
        biases = {id(b) for b in existing_biases(model.backbone)}
        names = {n for n, p in model.backbone.named_parameters() if id(p) in biases}
        if names and names <= trained:
            config.bias = "all"
    return config


def write_peft(model, config, directory: str) -> tuple[float, list[str]]:
    """PEFT's ``adapter_config.json`` + ``adapter_model.safetensors`` (saved by PEFT from a fresh base carrying
    the trained tensors) and ``vlpet_extra.safetensors`` with what PEFT's file does not hold; returns the round
    trip's largest logit difference and the names kept in the extra file."""
    from peft import get_peft_model
    from vlpet.pet.state import trainable_state_dict

    fresh = base_vl_model(config)
    wrapped = get_peft_model(fresh.backbone, _peft_config(model, fresh.backbone))
    trained = trainable_state_dict(model)
    params = dict(fresh.backbone.named_parameters())
    with torch.no_grad():
        for name, tensor in trained.items():
            if name.startswith("backbone.") and name[len("backbone."):] in params:
                params[name[len("backbone."):]].copy_(tensor)
    wrapped.save_pretrained(directory)
    os.remove(os.path.join(directory, "README.md"))  # PEFT's template card; vlpet writes its own
    reloaded = base_vl_model(config)
    from peft import PeftModel

    PeftModel.from_pretrained(reloaded.backbone, directory)
    own = reloaded.state_dict()
    extra = {n: t for n, t in trained.items() if n not in own or not torch.equal(own[n], t)}
    extra.update({n: t.detach().cpu().contiguous() for n, t in model.visual.state_dict(prefix="visual.").items()})
    save_file(extra, os.path.join(directory, EXTRA_FILE), metadata={"vlpet_method": config.method})
    loaded, _ = peft_model(config, directory)
    difference = check_same(probe_logits(model, config), probe_logits(loaded, config),
                            "the PEFT export loaded by PeftModel.from_pretrained", TOLERANCE)
    return difference, sorted(extra)


def write_merged(model, config, directory: str, adapter_dir: str | None) -> float:
    """``merged/backbone`` (a plain Hugging Face checkpoint) + ``merged/vlpet_extra.safetensors``; ConfigError
    where the method is not linear in the frozen weights. Checked against the unmerged model before it counts."""
    if uses_peft(model):
        kind = model.backbone.peft_config["default"].peft_type.value
        if kind not in MERGEABLE_PEFT:
            raise ConfigError(f"--merge: {config.method} ({kind}) is not merged by vlpet; mergeable: LoRA, DoRA, IA3 "
                              "(PEFT) and BitFit: export without --merge")
        plain, wrapped = peft_model(config, adapter_dir)
        wrapped.merge_and_unload()
    else:
        plain = _plain_with_trained(model, config)
    os.makedirs(directory)
    plain.backbone.save_pretrained(os.path.join(directory, BACKBONE_DIR))
    extra = {n: t.detach().cpu().contiguous() for n, t in plain.state_dict().items() if not n.startswith("backbone.")}
    save_file(extra, os.path.join(directory, EXTRA_FILE), metadata={"vlpet_method": config.method})
    return check_same(probe_logits(model, config), probe_logits(merged_model(config, directory), config),
                      "the merged checkpoint", MERGE_TOLERANCE)


def _plain_with_trained(model, config):
    """The method-free VL model carrying the trained tensors, where every one is a tensor of it (BitFit on a
    backbone with its own biases, full fine-tuning, trained norms); else ConfigError."""
    from vlpet.pet.state import trainable_state_dict

    plain = base_vl_model(config)
    own, trained = plain.state_dict(), trainable_state_dict(model)
    added = [n for n, t in trained.items() if n not in own or own[n].shape != t.shape]
    if added:
        raise ConfigError(f"--merge: {config.method} adds modules the plain backbone does not have (e.g. {added[0]}), "
                          "so there is nothing to merge them into; mergeable: LoRA, DoRA, IA3, BitFit: export "
                          "without --merge")
    plain.load_state_dict(trained, strict=False)
    return plain.eval()


def describe(directory: str, payload: dict) -> None:
    from vlpet.artifacts.load import ADAPTER_FILE

    with open(os.path.join(directory, ADAPTER_FILE), "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True, default=str)
