"""Backbones and the VL model: a visual projector in front of a Hugging Face encoder-decoder.

The names below are loaded on first use (PEP 562), so that a torch-free submodule such as
``vlpet.models.families`` (what a trial config reads) does not import torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKBONES": "vlpet.models.backbones", "BackboneSpec": "vlpet.models.families", "family_of": "vlpet.models.backbones",
    "load_backbone": "vlpet.models.backbones", "VisualProjector": "vlpet.models.visual",
    "VLSeq2Seq": "vlpet.models.vl_model", "build_vl_model": "vlpet.models.vl_model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vlpet.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
