"""LoRA through PEFT: q and v of every attention, scale α/r, B = 0 at the start (vlpet_spec §5)."""

import pytest
import torch
from peft.tuners.lora import LoraLayer
from torch.nn import functional as F

from tests.conftest import tiny_batch
from vlpet.testing.conformance import MethodConformance, budget, build, visual_names
from vlpet.errors import ConfigError
from vlpet.trial_config import TrialConfig

SIZES = {"lora_rank": 4}


class TestLoRA(MethodConformance):
    method = "lora"
    overrides = SIZES

    def expected_trainable(self, model, backbone):
        lora = {n for n, _ in model.named_parameters() if ".lora_A." in n or ".lora_B." in n}
        biases = {n for n, _ in model.named_parameters() if n.startswith("backbone.") and n.endswith(".bias")}
        return lora | biases | visual_names(model)


@pytest.mark.parametrize("backbone, targets", [
    ("tiny-bart", {f"backbone.model.{stack}.layers.{i}.{attn}.{proj}" for i in range(2) for proj in ("q_proj", "v_proj")
                   for stack, attn in (("encoder", "self_attn"), ("decoder", "self_attn"), ("decoder", "encoder_attn"))}),
    ("tiny-t5", {f"backbone.{stack}.block.{i}.{attn}.{proj}" for i in range(2) for proj in ("q", "v")
                 for stack, attn in (("encoder", "layer.0.SelfAttention"), ("decoder", "layer.0.SelfAttention"),
                                     ("decoder", "layer.1.EncDecAttention"))}),
])
def test_lora_wraps_exactly_the_query_and_value_projections(backbone, targets):
    model = build(backbone, "lora", **SIZES)
    assert {n for n, m in model.named_modules() if isinstance(m, LoraLayer)} == targets


def test_lora_starts_as_the_identity_and_scales_by_alpha_over_rank():
    model, plain = build("tiny-bart", "lora", **SIZES).eval(), build("tiny-bart", "full").eval()
    batch = tiny_batch()
    torch.testing.assert_close(model(**batch).logits, plain(**batch).logits)
    q = model.backbone.model.encoder.layers[0].self_attn.q_proj
    a, b = q.lora_A["default"].weight, q.lora_B["default"].weight
    with torch.no_grad():
        b.normal_()
        x = torch.randn(2, 3, 64)
        expected = F.linear(x, q.base_layer.weight, q.base_layer.bias) + (32 / 4) * F.linear(F.linear(x, a), b)
        torch.testing.assert_close(q(x), expected)


def test_placement_selects_attentions_and_rejects_other_sites():
    model = build("tiny-t5", "lora", placement=["decoder.cross_attn"], **SIZES)
    assert len([m for m in model.modules() if isinstance(m, LoraLayer)]) == 4
    with pytest.raises(ConfigError, match="encoder.ffn is not an attention site"):
        TrialConfig.from_dict({"backbone": "tiny-t5", "method": "lora", "placement": ["encoder.ffn"]})


@pytest.mark.parametrize(
    "backbone, lora, extra, total, pct",
    [   # BART: r = 128 on 36 projections + 125,952 biases; T5: r = 150 on 72. Paper Table 2: 5.93 % / 7.54 %
        ("bart-base", 36 * 2 * 128 * 768, 125_952 + 1_582_848, 139_574_016 + 1_582_848, 5.93),
        ("t5-base", 72 * 2 * 150 * 768, 1_581_312, 222_958_848 + 1_581_312, 7.54),
    ],
)
def test_lora_budget(backbone, lora, extra, total, pct):
    result = budget(backbone, "lora")
    assert result["breakdown"]["lora"] == lora
    assert (result["trainable_params"], result["total_params"]) == (lora + extra, total + lora)
    assert round(result["trainable_pct"], 2) == pct
