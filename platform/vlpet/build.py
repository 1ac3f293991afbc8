"""TrialConfig → PET model: the one place where a trial's configuration meets the model builders."""

from __future__ import annotations

import torch

from vlpet.models.vl_model import VLSeq2Seq, build_vl_model
from vlpet.pet.registry import apply_pet
from vlpet.trial_config import TrialConfig


def build_trial_model(config: TrialConfig, device: str | torch.device | None = None,
                      pretrained: bool = True) -> VLSeq2Seq:
    """Build the VL model of ``config.backbone`` and apply ``config.method``; seeded by ``config.seed``.

    ``device="meta"`` builds without weight memory (for counting); ``pretrained=False`` builds a checkpoint's
    architecture with random weights. A ``<task>:<name>`` backbone is resolved first (data layer), so that
    pretraining it on first use leaves the seeded initialisation below unchanged.
    """
    from vlpet.data.registry import resolve_backbone

    weights = pretrained and (device is None or torch.device(device).type != "meta")
    backbone = resolve_backbone(config.backbone, weights)
    torch.manual_seed(config.seed)
    model = build_vl_model(backbone, config.visual_feat_dim, config.visual_grid, config.dropout,
                           device=device, pretrained=pretrained)
    if not weights and device is not None:  # counting: the PET modules hold no weights either
        with torch.device(device):
            return apply_pet(model, config.pet_settings())
    return apply_pet(model, config.pet_settings())


def trial_budget(config: TrialConfig) -> dict:
    """The parameter budget of ``config``, counted on the meta device (no weights, no download): a dict with
    ``trainable_params``, ``total_params``, ``trainable_pct`` and the per-component ``breakdown``."""
    from vlpet.pet.budget import count_parameters

    return count_parameters(build_trial_model(config, device="meta")).as_dict()
