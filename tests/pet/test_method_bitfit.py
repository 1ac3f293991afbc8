"""BitFit: BART trains its own biases; T5 gets zero biases added to every Linear and norm (LST), vlpet_spec §5."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tests.conftest import tiny_batch
from vlpet.testing.conformance import MethodConformance, budget, build, visual_names
from vlpet.models.families import norm_types


class TestBitFit(MethodConformance):
    method = "bitfit"

    def expected_trainable(self, model, backbone):
        if backbone == "tiny-bart":
            biases = {n for n, _ in model.backbone.named_parameters() if n.endswith(".bias")}
            return {f"backbone.{n}" for n in biases} | visual_names(model)
        return {n for n, _ in model.named_parameters() if n.endswith(".added_bias.bias")} | visual_names(model)


def test_t5_gets_a_bias_on_every_linear_and_norm_including_lm_head_and_visual_norms():
    plain = build("tiny-t5", "full")
    targets = {n for n, m in plain.named_modules()
               if isinstance(m, norm_types()) or (isinstance(m, nn.Linear) and m.bias is None)}
    model = build("tiny-t5", "bitfit")
    names = {n for n, m in model.named_modules() if hasattr(m, "added_bias")}
    assert names == targets
    assert {"backbone.lm_head", "visual.feat_norm", "visual.box_norm",
            "backbone.encoder.block.0.layer.0.SelfAttention.q", "backbone.decoder.final_layer_norm"} <= names
    assert not any("relative_attention_bias" in n for n in names)


def test_t5_added_bias_is_added_to_the_module_output():
    model = build("tiny-t5", "bitfit")
    q = model.backbone.encoder.block[0].layer[0].SelfAttention.q
    with torch.no_grad():
        q.added_bias.bias.normal_()
        x = torch.randn(2, 3, 64)
        torch.testing.assert_close(q(x), F.linear(x, q.weight) + q.added_bias.bias)


def test_added_biases_start_at_zero_so_the_output_is_unchanged():
    model, plain = build("tiny-t5", "bitfit").eval(), build("tiny-t5", "full").eval()  # same seed, same weights
    batch = tiny_batch()
    torch.testing.assert_close(model(**batch).logits, plain(**batch).logits)


@pytest.mark.parametrize(
    "backbone, trainable, total, pct",
    [
        # BART: 125,952 backbone biases (Linear 101,376 + LayerNorm 24,576) + visual
        ("bart-base", 125_952 + 1_582_848, 139_574_016 + 1_582_848, 1.21),
        # T5 (LST): 284,104 added biases (visual norms' 1,536 included) + visual; paper Table 2: 0.83 %
        ("t5-base", 284_104 + 1_581_312, 222_958_848 + 1_581_312 + 284_104, 0.83),
    ],
)
def test_bitfit_budget(backbone, trainable, total, pct):
    result = budget(backbone, "bitfit")
    assert (result["trainable_params"], result["total_params"]) == (trainable, total)
    assert round(result["trainable_pct"], 2) == pct
