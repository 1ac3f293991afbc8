"""LoKr through PEFT: W1 ⊗ (B A) added to each wrapped projection."""

import pytest

from vlpet.testing.conformance import MethodConformance, budget, visual_names

SIZES = {"lokr_rank": 2, "lokr_factor": 4}


class TestLoKr(MethodConformance):
    method = "lokr"
    overrides = SIZES
    variants = {"default": {}, "square-root-split": {"lokr_factor": -1}}

    def expected_trainable(self, model, backbone):
        return {n for n, _ in model.named_parameters() if ".lokr_w" in n} | visual_names(model)


@pytest.mark.parametrize("backbone, layers", [("bart-base", 36), ("t5-base", 72)])
def test_lokr_budget(backbone, layers):
    # factor 8: W1 is 8 × 8, W2 = B A of rank 32 with sides 768 / 8 = 96
    assert budget(backbone, "lokr")["breakdown"]["peft"] == layers * (8 * 8 + 32 * (96 + 96))
