"""MiSS (PEFT's successor of Bone) through PEFT: one shard-shared r × d_out block per wrapped projection."""

import pytest

from vlpet.testing.conformance import MethodConformance, budget, norm_names, visual_names

SIZES = {"miss_rank": 8}


class TestMiSS(MethodConformance):
    method = "miss"
    overrides = SIZES
    variants = {"default": {}, "encoder-norms": {"placement": ["encoder.attn"], "train_norms": "encoder"}}

    def make(self, backbone, variant, seed=1):
        model = super().make(backbone, variant, seed)
        model.expected_norm_stacks = ("encoder",) if variant.get("train_norms") == "encoder" else ()
        return model

    def expected_trainable(self, model, backbone):
        miss = {n for n, _ in model.named_parameters() if ".miss_block." in n}
        return miss | norm_names(model, model.expected_norm_stacks) | visual_names(model)


@pytest.mark.parametrize("backbone, layers", [("bart-base", 36), ("t5-base", 72)])
def test_miss_budget(backbone, layers):
    assert budget(backbone, "miss")["breakdown"]["peft"] == layers * 64 * 768
