"""A third encoder-decoder family is one record (``vlpet/models/families/mt5.py``) plus this test: mT5 builds,
counts and takes every PET method through the same sites, norms and vocabulary rule as the others."""

import pytest
import torch

from vlpet.build import build_trial_model, trial_budget
from vlpet.models.families import family_of, family_record
from vlpet.pet.registry import registered_methods
from vlpet.testing import tiny_batch
from vlpet.trial_config import TrialConfig

TINY = {"backbone": "tiny-mt5", "visual_feat_dim": 16, "bottleneck": 8, "gate_bottleneck": 8, "decoder_bottleneck": 8}


def config(method: str, **overrides) -> TrialConfig:
    return TrialConfig.from_dict({**TINY, "method": method, **overrides})


def test_the_record_is_found_by_model_type_and_takes_t5_s_paper_setting(tmp_path):
    model = build_trial_model(config("vl-pet"))
    assert model.backbone.config.model_type == "mt5" and family_of("tiny-mt5") == "mt5"
    model.backbone.save_pretrained(tmp_path)  # a local checkpoint: the family comes from its config.json
    assert family_of(str(tmp_path)) == "mt5"
    resolved = config("vl-pet")
    assert (resolved.bottleneck, resolved.gate_scale, resolved.init, resolved.lr) == (8, 0.3, "zero_up", 3e-4)
    assert family_record("mt5").paper_setting == "t5"


@pytest.mark.parametrize("method", sorted(registered_methods()))
def test_every_method_trains_on_mt5(method):
    generic = {"peft": {"peft_type": "LORA", "r": 4}} if method == "peft" else {}  # the generic PEFT method's mapping
    model = build_trial_model(config(method, lora_rank=4, prompt_length=3, prompt_hidden=8, **generic))
    trainable = [p for p in model.parameters() if p.requires_grad]
    loss = model(**tiny_batch()).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in trainable)


def test_mt5_norms_are_its_own_class_and_train_with_vl_pet():
    model = build_trial_model(config("vl-pet"))
    norm_type = family_record("mt5").norm_type()
    encoder_norms = [m for n, m in model.backbone.named_modules() if n.startswith("encoder.") and isinstance(m, norm_type)]
    assert encoder_norms and all(p.requires_grad for m in encoder_norms for p in m.parameters())
    assert isinstance(model.visual.feat_norm, norm_type)


def test_budget_counts_mt5_on_the_meta_device():
    budget = trial_budget(config("bitfit"))
    assert budget["breakdown"]["biases"] > 0 and 0 < budget["trainable_pct"] < 100
