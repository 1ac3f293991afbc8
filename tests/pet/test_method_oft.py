"""OFT through PEFT: a block-diagonal orthogonal (Cayley) rotation of each wrapped projection's input."""

import pytest

from vlpet.testing.conformance import MethodConformance, budget, visual_names

SIZES = {"oft_block_size": 8}


class TestOFT(MethodConformance):
    method = "oft"
    overrides = SIZES
    variants = {"default": {}, "decoder-self-attention": {"placement": ["decoder.self_attn"]}}

    def expected_trainable(self, model, backbone):
        return {n for n, _ in model.named_parameters() if ".oft_R." in n} | visual_names(model)


@pytest.mark.parametrize("backbone, layers", [("bart-base", 36), ("t5-base", 72)])
def test_oft_budget(backbone, layers):
    assert budget(backbone, "oft")["breakdown"]["peft"] == layers * (768 // 32) * (32 * 31 // 2)
