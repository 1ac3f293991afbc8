"""Compacter: PHM adapters where VL-Adapter puts adapters; with a granularity, G + the lightweight designs with a
PHM value adapter (paper Table 9), vlpet_spec §5-6."""

import pytest
import torch

from vlpet.testing.conformance import MethodConformance, budget, build, norm_names, pet_names, visual_names
from vlpet.errors import ConfigError
from vlpet.pet.phm import PHMAdapter, PHMLinear
from vlpet.trial_config import TrialConfig

PHM = 74_608  # d = 768 → r = 96 → d, n = 2 (vlpet_spec §6)
LARGE_GATE = 2 * 768 * 96 + 96 + 768
NORMS = {"tiny-bart": ("encoder", "decoder"), "tiny-t5": ()}


class TestCompacter(MethodConformance):
    method = "compacter"

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, NORMS[backbone])


class TestCompacterWithGate(MethodConformance):
    method = "compacter"
    overrides = {"granularity": "middleX"}

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, ("encoder",))


@pytest.mark.parametrize("n", [1, 2, 4])
def test_phm_matrix_is_the_sum_of_kronecker_products(n):
    torch.manual_seed(0)
    layer = PHMLinear(8, 12, n)
    layer.reset_parameters()
    with torch.no_grad():
        layer.bias.normal_()
        expected = sum(torch.kron(layer.rule[i], layer.weight[i]) for i in range(n))
        torch.testing.assert_close(layer.matrix(), expected)
        x = torch.randn(3, 8)
        torch.testing.assert_close(layer(x), x @ expected + layer.bias)


def test_phm_adapter_size_matches_the_spec():
    adapter = PHMAdapter(768, 96, 2)
    assert sum(p.numel() for p in adapter.parameters()) == PHM == 2 * 8 + 2 * 768 * 96 // 2 + 96 + 768


def test_value_adapter_of_the_lightweight_design_is_phm():
    model = build("tiny-bart", "compacter", granularity="large")
    assert isinstance(model.backbone.model.decoder.layers[0].vlpet_decoder_cross_attn_value, PHMAdapter)
    assert not hasattr(model.backbone.model.decoder.layers[0], "vlpet_decoder_ffn")


def test_sizes_must_divide_by_n():
    with pytest.raises(ConfigError, match="bottleneck: 9 is not divisible by phm_dim=2"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "method": "compacter", "bottleneck": 9})
    with pytest.raises(ValueError, match="divisible by n=3"):
        PHMLinear(64, 9, 3)


def test_bart_compacter_budget_reproduces_the_paper():
    """30 PHM adapters + 32 LayerNorms + visual; VL-Adapter's and VL-PET's Table 2: 2.70 %."""
    result = budget("bart-base", "compacter")
    assert result["trainable_params"] == 30 * PHM + 49_152 + 1_582_848
    assert result["total_params"] == 139_574_016 + 1_582_848 + 30 * PHM
    assert round(result["trainable_pct"], 2) == 2.70


def test_bart_compacter_with_large_gate_follows_the_table_9_set():
    """Encoder PHM adapters + large gates, 6 PHM value adapters, encoder LayerNorms, visual."""
    result = budget("bart-base", "compacter", granularity="large")
    modules = 12 * (PHM + LARGE_GATE) + 6 * PHM
    assert result["trainable_params"] == modules + 19_968 + 1_582_848
    assert result["total_params"] == 139_574_016 + 1_582_848 + modules
    assert result["breakdown"]["decoder modules"] == 6 * PHM


def test_t5_compacter_budget():
    """No paper run; T5 takes r = 192 and, like the T5 adapter run, frozen norms."""
    phm = 2 * 8 + 768 * 192 + 192 + 768
    result = budget("t5-base", "compacter")
    assert result["trainable_params"] == 60 * phm + 1_581_312
