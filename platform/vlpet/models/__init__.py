"""Backbones and the VL model: a visual projector in front of a Hugging Face encoder-decoder."""

from vlpet.models.backbones import BACKBONES, BackboneSpec, family_of, load_backbone
from vlpet.models.visual import VisualProjector
from vlpet.models.vl_model import VLSeq2Seq, build_vl_model

__all__ = ["BACKBONES", "BackboneSpec", "VLSeq2Seq", "VisualProjector", "build_vl_model", "family_of", "load_backbone"]
