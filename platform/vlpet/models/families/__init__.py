"""Backbone families, one record per module here (``FAMILY = BackboneFamily(...)``), found by module name.

Everything else that depends on the architecture (the PET sites, the loader, the visual projector, the norm
types, the paper's defaults) reads the record of a model's ``config.model_type``. Torch-free.
"""

from __future__ import annotations

import json
import os
from typing import Any

from vlpet.models.families.record import BackboneFamily, BackboneSpec, Layout, SublayerSite
from vlpet.registry import Registry

__all__ = ["BackboneFamily", "BackboneSpec", "Layout", "SublayerSite", "families", "family_record",
           "family_of", "family_of_model", "hub_aliases", "known_architectures", "norm_types", "register_family"]

_REGISTRY: Registry[BackboneFamily] = Registry(__name__, "FAMILY", BackboneFamily, lambda f: f.model_type,
                                               "backbone family")
FAMILIES = _REGISTRY.records  # model_type → record, as registered so far


def register_family(family: BackboneFamily) -> BackboneFamily:
    """Add a family record (built-in records are found by :func:`families`)."""
    return _REGISTRY.register(family)


def families() -> dict[str, BackboneFamily]:
    """model_type → record, for every module of this package that defines ``FAMILY``."""
    return _REGISTRY.all()


def family_record(model_type: Any) -> BackboneFamily:
    """The record for ``model_type``; ValueError naming the supported families."""
    return _REGISTRY.get(model_type)


def family_of_model(model: Any) -> BackboneFamily:
    """The record of a Hugging Face model (its ``config.model_type``)."""
    return family_record(getattr(getattr(model, "config", None), "model_type", None))


def known_architectures() -> dict[str, BackboneSpec]:
    """Every named architecture (``bart-base``, ``tiny-t5``, ...) of every family."""
    return {spec.name: spec for family in families().values() for spec in family.architectures}


def hub_aliases() -> dict[str, str]:
    """Hub checkpoint name → the named architecture it has (counted offline without a download)."""
    return {spec.hub_name: spec.name for spec in known_architectures().values() if spec.hub_name}


def family_of(backbone: str) -> str:
    """The family (``config.model_type``) of a known name, a local checkpoint (its config.json) or a hub name
    (its config.json, from the Hugging Face cache or the hub); ValueError when none can be told."""
    backbone = hub_aliases().get(backbone, backbone)
    known = ", ".join(known_architectures())
    try:
        model_type = checkpoint_model_type(backbone)
    except (OSError, ValueError) as error:
        raise ValueError(f"backbone {backbone!r}: cannot tell its architecture (not a known name, and {error}); "
                         f"known names: {known}") from None
    if model_type not in families():
        raise ValueError(f"backbone {backbone!r}: cannot tell its architecture (model_type {model_type!r}); "
                         f"supported families: {', '.join(families())}; known names: {known}")
    return model_type


def norm_types() -> tuple[type, ...]:
    """The norm classes of every family (torch and transformers are imported here, on first use)."""
    return tuple(dict.fromkeys(family.norm_type() for family in families().values()))


def checkpoint_model_type(backbone: str) -> str:
    """``model_type`` of a named architecture, a local checkpoint (its config.json) or a hub name (its config,
    fetched through transformers' cache). Raises ValueError/OSError when it cannot be read."""
    named = known_architectures()
    if backbone in named:
        return named[backbone].family
    config_path = os.path.join(backbone, "config.json")
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as handle:
            return json.load(handle).get("model_type", "")
    if os.path.isdir(backbone) or backbone.startswith((".", "/", "~")):
        raise ValueError("no config.json in that local directory")
    return hub_config(backbone).get("model_type", "")


def hub_config(name: str) -> dict[str, Any]:
    """A hub checkpoint's config.json: from the Hugging Face cache, else one request to the hub (no retries, so
    a name that does not exist or a machine without the hub is told at once). Raises OSError."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name, local_files_only=True).to_dict()
    except (OSError, ValueError):
        pass
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        raise OSError("not in the Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        response = get_session().get(hf_hub_url(name, "config.json"), timeout=10)
        response.raise_for_status()
        return response.json()
    except Exception as error:  # the session's network, HTTP and JSON errors alike
        raise OSError(f"not in the Hugging Face cache and the model hub did not give its config.json ({error})") from None
