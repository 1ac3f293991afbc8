"""Prompt tuning: P reparameterised prompt vectors before the text (vlpet_spec §5)."""

import pytest
import torch

from tests.conftest import tiny_batch
from vlpet.testing.conformance import MethodConformance, budget, build, visual_names

SIZES = {"prompt_length": 5, "prompt_hidden": 12}


class TestPrompt(MethodConformance):
    method = "prompt"
    overrides = SIZES

    def expected_trainable(self, model, backbone):
        return {n for n, _ in model.named_parameters() if n.startswith("encoder_prompt.")} | visual_names(model)


def test_generator_is_embedding_linear_tanh_linear():
    model = build("tiny-bart", "prompt", **SIZES)
    prompt = model.encoder_prompt
    with torch.no_grad():
        expected = prompt.up(torch.tanh(prompt.down(prompt.embedding.weight)))
        out = prompt(3)
    assert out.shape == (3, 5, 64)
    torch.testing.assert_close(out[2], expected)


@pytest.mark.parametrize("backbone", ["tiny-bart", "tiny-t5"])
def test_prompts_lead_the_encoder_input_and_are_attended(backbone):
    model = build(backbone, "prompt", **SIZES)
    batch = tiny_batch()
    embeds, mask = model.embed(batch["input_ids"], batch["attention_mask"], batch["visual_feats"])
    assert embeds.shape[1] == mask.shape[1] == 5 + 5 + 36
    assert mask[:, :5].eq(1).all()
    torch.testing.assert_close(embeds[:, :5], model.encoder_prompt(2))


def test_bart_prompts_get_no_position_and_text_keeps_positions_from_zero():
    """Official VL-BART: text + positions 0..L_t−1, then the prompts are prepended, then layernorm_embedding."""
    model = build("tiny-bart", "prompt", **SIZES).eval()
    encoder = model.backbone.model.encoder
    seen = {}
    encoder.layernorm_embedding.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0]))
    batch = tiny_batch()
    with torch.no_grad():
        model(**batch)
        text = encoder.embed_tokens(batch["input_ids"]) + encoder.embed_positions.weight[2:7]
        torch.testing.assert_close(seen["x"][:, :5], model.encoder_prompt(2))
        torch.testing.assert_close(seen["x"][:, 5:10], text)


@pytest.mark.parametrize(
    "backbone, trainable, total, pct",
    [   # generator: 40·768 + (768·800 + 800) + (800·768 + 768) = 1,261,088; paper Table 2: 2.00 % / 1.26 %
        ("bart-base", 1_261_088 + 1_582_848, 139_574_016 + 1_582_848 + 1_261_088, 2.00),
        ("t5-base", 1_261_088 + 1_581_312, 222_958_848 + 1_581_312 + 1_261_088, 1.26),
    ],
)
def test_prompt_budget(backbone, trainable, total, pct):
    result = budget(backbone, "prompt")
    assert (result["trainable_params"], result["total_params"]) == (trainable, total)
    assert result["breakdown"]["prompts"] == 1_261_088
    assert round(result["trainable_pct"], 2) == pct
