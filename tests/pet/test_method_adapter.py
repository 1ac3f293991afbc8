"""VL-Adapter: a single shared bottleneck adapter after every sub-layer; with a granularity, G + the lightweight
designs (paper Table 9), vlpet_spec §5."""

import pytest
import torch
from torch.nn import functional as F

from vlpet.testing.conformance import MethodConformance, budget, build, norm_names, pet_names, visual_names
from vlpet.errors import ConfigError
from vlpet.trial_config import TrialConfig

BOTTLENECK = lambda d, r: 2 * d * r + r + d  # noqa: E731
NORMS = {"tiny-bart": ("encoder", "decoder"), "tiny-t5": ()}  # T5: the paper's run left its norms frozen


class TestAdapter(MethodConformance):
    method = "adapter"

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, NORMS[backbone])


class TestAdapterWithGate(MethodConformance):
    method = "adapter"
    overrides = {"granularity": "large"}

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, ("encoder",))


def test_adapters_sit_after_all_five_sublayers_with_one_head_and_no_gate():
    model = build("tiny-bart", "adapter")
    layer = model.backbone.model.decoder.layers[1]
    for site in ("self_attn", "cross_attn", "ffn"):
        module = getattr(layer, f"vlpet_decoder_{site}")
        assert module.gate is None and module.scale == 1.0 and module.modification.heads == 1
    assert hasattr(model.backbone.model.encoder.layers[0], "vlpet_encoder_ffn")


def test_bart_layer_computes_layernorm_of_x_plus_h_plus_adapter():
    """BART: out = LN(X + H + A(H)) around self-attention and the FFN, A(H) = W_u·GELU_tanh(W_d·H + b_d) + b_u."""
    model = build("tiny-bart", "adapter").eval()
    layer = model.backbone.model.encoder.layers[0]
    attn, ffn = layer.vlpet_encoder_attn.modification, layer.vlpet_encoder_ffn.modification

    def adapted(adapter, h):
        return h + adapter.up(F.gelu(adapter.down(h), approximate="tanh"))

    x = torch.randn(2, 6, 64)
    with torch.no_grad():
        h = type(layer.self_attn).forward(layer.self_attn, x, attention_mask=None)[0]  # raw H, hooks bypassed
        y = layer.self_attn_layer_norm(x + adapted(attn, h))
        h_ffn = type(layer.fc2).forward(layer.fc2, layer.activation_fn(layer.fc1(y)))
        expected = layer.final_layer_norm(y + adapted(ffn, h_ffn))
        torch.testing.assert_close(layer(x, attention_mask=None), expected)


def test_defaults_follow_the_paper_runs():
    bart = TrialConfig.from_dict({"backbone": "bart-base", "method": "adapter"})
    t5 = TrialConfig.from_dict({"backbone": "t5-base", "method": "adapter"})
    assert (bart.bottleneck, bart.lr, bart.train_norms, bart.gate_scale, bart.granularity) == (96, 1e-3, "all", 1.0, None)
    assert (t5.bottleneck, t5.lr, t5.train_norms, t5.gate_scale) == (192, 3e-4, "none", 1.0)
    assert len(bart.placement) == 5
    gated = TrialConfig.from_dict({"backbone": "bart-base", "method": "adapter", "granularity": "small"})
    assert gated.placement == ["encoder.attn", "encoder.ffn", "decoder.cross_attn.value"]
    assert gated.train_norms == "encoder"


@pytest.mark.parametrize(
    "backbone, trainable, total, pct",
    [   # BART: 30 × 148,320 + 32 LayerNorms; T5: 60 × 295,872, norms frozen. Paper Table 2: 4.18 % / 7.98 %
        ("bart-base", 30 * BOTTLENECK(768, 96) + 49_152 + 1_582_848, 139_574_016 + 1_582_848 + 30 * BOTTLENECK(768, 96),
         4.18),
        ("t5-base", 60 * BOTTLENECK(768, 192) + 1_581_312, 222_958_848 + 1_581_312 + 60 * BOTTLENECK(768, 192), 7.98),
    ],
)
def test_adapter_budget(backbone, trainable, total, pct):
    result = budget(backbone, "adapter")
    assert (result["trainable_params"], result["total_params"]) == (trainable, total)
    assert round(result["trainable_pct"], 2) == pct


@pytest.mark.parametrize("granularity", ["small", "middleX", "middleY", "large"])
@pytest.mark.parametrize("backbone", ["bart-base", "t5-base"])
def test_adapter_with_gate_has_the_parameter_set_of_vl_pet(backbone, granularity):
    """vlpet_spec §5, Table 9: "VL-Adapter + G_x + LW" counts exactly as VL-PET-x (one head instead of N_h)."""
    gated = budget(backbone, "adapter", granularity=granularity)
    assert gated == budget(backbone, "vl-pet", granularity=granularity)


def test_gate_is_rejected_for_methods_without_one():
    with pytest.raises(ConfigError, match="cannot be combined with method 'lora'.*adapter, compacter, vl-pet"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "method": "lora", "granularity": "large"})


def test_t5_adapter_keeps_pytorch_default_init_as_the_official_lst_code():
    config = TrialConfig.from_dict({"backbone": "tiny-t5", "method": "adapter"})
    assert config.init == "pytorch"
    model = build("tiny-t5", "adapter")
    up = model.backbone.encoder.block[0].vlpet_encoder_attn.modification.up
    assert up.weight.abs().sum() > 0                     # not zeroed, unlike VL-PET's T5 zero_up init
    vl_pet = build("tiny-t5", "vl-pet")
    assert vl_pet.backbone.encoder.block[0].vlpet_encoder_attn.modification.up.weight.abs().sum() == 0
