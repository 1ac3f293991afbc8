"""VL-PET (vlpet_spec §2–3) in the shared conformance suite, once per granularity of the gate G: multi-head ΔH and
G on the encoder's sub-layers, parallel value adapters in the decoder, encoder norms trained."""

import pytest

from vlpet.errors import ConfigError
from vlpet.pet.gates import GATES
from vlpet.testing.conformance import MethodConformance, build, norm_names, pet_names, visual_names
from vlpet.trial_config import TrialConfig


class TestVLPet(MethodConformance):
    method = "vl-pet"
    variants = {granularity: {"granularity": granularity} for granularity in ("small", "middleX", "middleY", "large")}

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, ("encoder",))


def test_every_granularity_is_covered():
    assert set(TestVLPet.variants) == set(GATES)


@pytest.mark.parametrize("backbone", ["tiny-bart", "tiny-t5"])
def test_modules_sit_at_the_lightweight_placement_with_n_heads(backbone):
    model = build(backbone, "vl-pet", heads=2)
    stack = model.backbone.model if backbone == "tiny-bart" else model.backbone
    encoder_layer = (stack.encoder.layers if backbone == "tiny-bart" else stack.encoder.block)[0]
    decoder_layer = (stack.decoder.layers if backbone == "tiny-bart" else stack.decoder.block)[0]
    assert encoder_layer.vlpet_encoder_attn.modification.heads == 2
    assert encoder_layer.vlpet_encoder_ffn.gate is not None
    assert hasattr(decoder_layer, "vlpet_decoder_cross_attn_value")
    assert not hasattr(decoder_layer, "vlpet_decoder_ffn")


def test_heads_is_vl_pet_s_own_option_and_must_divide_r():
    config = TrialConfig.from_dict({"backbone": "tiny-bart", "bottleneck": 8, "heads": 2})
    assert config.options.heads == 2 and config.to_dict()["heads"] == 2
    with pytest.raises(ConfigError, match="bottleneck: 6 is not divisible by heads=4"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "bottleneck": 6})
    with pytest.raises(ConfigError, match="heads: must be a positive integer"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "heads": 0})
