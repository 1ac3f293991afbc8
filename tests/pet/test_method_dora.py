"""DoRA through PEFT: LoRA's A, B and a magnitude per output on q and v, the backbone's biases as LoRA trains them."""

import pytest
import torch

from vlpet.testing.conformance import MethodConformance, budget, build, visual_names

SIZES = {"dora_rank": 4}


class TestDoRA(MethodConformance):
    method = "dora"
    overrides = SIZES
    variants = {"default": {}, "all-linear-ffn": {"placement": ["encoder.ffn"], "peft_targets": "all_linear"}}

    def expected_trainable(self, model, backbone):
        dora = {n for n, _ in model.named_parameters()
                if any(f".{name}." in n for name in ("lora_A", "lora_B", "lora_magnitude_vector"))}
        biases = {n for n, _ in model.named_parameters() if n.startswith("backbone.") and n.endswith(".bias")}
        return dora | biases | visual_names(model)


def test_the_magnitude_starts_at_the_pretrained_column_norms():
    model, plain = build("tiny-bart", "dora", **SIZES), build("tiny-bart", "full")
    q = model.backbone.model.encoder.layers[0].self_attn.q_proj
    weight = plain.backbone.model.encoder.layers[0].self_attn.q_proj.weight
    magnitude = q.lora_magnitude_vector["default"].weight
    torch.testing.assert_close(magnitude, weight.norm(dim=1))


@pytest.mark.parametrize("backbone, layers, rank, biases, pct", [
    # DoRA's VL-BART table reports 5.96 % next to LoRA's 5.93 %; the magnitudes add 36 · 768
    ("bart-base", 36, 128, 125_952, 5.95),
    ("t5-base", 72, 150, 0, 7.56),
])
def test_dora_budget(backbone, layers, rank, biases, pct):
    result = budget(backbone, "dora")
    assert result["breakdown"]["peft"] == layers * (2 * rank * 768 + 768)
    assert result["trainable_params"] == result["breakdown"]["peft"] + biases + result["breakdown"]["visual projector"]
    assert round(result["trainable_pct"], 2) == pct
