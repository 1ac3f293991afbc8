"""(IA)³ through PEFT: vectors rescale keys, values and the FFN's inner activation at the placed sites."""

import pytest
from peft.tuners.ia3 import IA3Layer

from vlpet.testing.conformance import MethodConformance, budget, build, visual_names


class TestIA3(MethodConformance):
    method = "ia3"
    variants = {"default": {}, "encoder-ffn-and-value": {"placement": ["encoder.ffn", "decoder.cross_attn.value"]}}

    def expected_trainable(self, model, backbone):
        return {n for n, _ in model.named_parameters() if ".ia3_l." in n} | visual_names(model)


@pytest.mark.parametrize("backbone, keys_values, ffn", [
    ("tiny-bart", {f"backbone.model.{s}.layers.{i}.{a}.{p}" for i in range(2) for p in ("k_proj", "v_proj")
                   for s, a in (("encoder", "self_attn"), ("decoder", "self_attn"), ("decoder", "encoder_attn"))},
     {f"backbone.model.{s}.layers.{i}.fc2" for i in range(2) for s in ("encoder", "decoder")}),
    ("tiny-t5", {f"backbone.{s}.block.{i}.{a}.{p}" for i in range(2) for p in ("k", "v")
                 for s, a in (("encoder", "layer.0.SelfAttention"), ("decoder", "layer.0.SelfAttention"),
                              ("decoder", "layer.1.EncDecAttention"))},
     {f"backbone.encoder.block.{i}.layer.1.DenseReluDense.wo" for i in range(2)}
     | {f"backbone.decoder.block.{i}.layer.2.DenseReluDense.wo" for i in range(2)}),
])
def test_ia3_scales_keys_values_and_the_ffn_input(backbone, keys_values, ffn):
    layers = {n: m for n, m in build(backbone, "ia3").named_modules() if isinstance(m, IA3Layer)}
    assert set(layers) == keys_values | ffn
    assert {n for n, m in layers.items() if m.is_feedforward} == ffn


@pytest.mark.parametrize("backbone, attentions, ffns, d_ff", [("bart-base", 18, 12, 3072), ("t5-base", 36, 24, 3072)])
def test_ia3_budget(backbone, attentions, ffns, d_ff):
    assert budget(backbone, "ia3")["breakdown"]["peft"] == attentions * 2 * 768 + ffns * d_ff
