"""VeRA through PEFT: frozen shared random A and B, trained scaling vectors b and d on q and v."""

import pytest
import torch

from vlpet.pet.state import trainable_state_dict
from vlpet.testing.conformance import MethodConformance, budget, build, visual_names

SIZES = {"vera_rank": 16}


class TestVeRA(MethodConformance):
    method = "vera"
    overrides = SIZES
    variants = {"default": {}, "cross-attention-value": {"placement": ["decoder.cross_attn.value"]}}

    def expected_trainable(self, model, backbone):
        vera = {n for n, _ in model.named_parameters() if ".vera_lambda_b." in n or ".vera_lambda_d." in n}
        return vera | visual_names(model)


def test_projections_are_frozen_shared_regenerated_and_left_out_of_the_checkpoint():
    first, second = build("tiny-t5", "vera", seed=1, **SIZES), build("tiny-t5", "vera", seed=2, **SIZES)
    q = first.backbone.encoder.block[0].layer[0].SelfAttention.q
    v = first.backbone.decoder.block[1].layer[1].EncDecAttention.v
    assert q.vera_A["default"] is v.vera_A["default"]  # one pair for every layer
    other = second.backbone.encoder.block[0].layer[0].SelfAttention.q
    assert torch.equal(q.vera_A["default"], other.vera_A["default"])  # the PRNG key, not the trial seed
    assert not any("vera_A" in name or "vera_B" in name for name in trainable_state_dict(first))


@pytest.mark.parametrize("backbone, layers", [("bart-base", 36), ("t5-base", 72)])
def test_vera_budget(backbone, layers):
    assert budget(backbone, "vera")["breakdown"]["peft"] == layers * (1024 + 768)
