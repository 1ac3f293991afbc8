"""The fused multi-head ΔH equals the per-head form of the paper's code (vlpet_spec §2.1)."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from vlpet.pet.gated_sublayer import GatedSublayerModule
from vlpet.pet.gates import build_gate
from vlpet.pet.modification import MultiHeadModification


def per_head_reference(module: MultiHeadModification, h: torch.Tensor) -> torch.Tensor:
    """N_h separate Linear layers d → r/N_h, concatenated, GELU_tanh, one up projection."""
    heads = []
    for index in range(module.heads):
        weight, bias = module.head_down(index)
        head = nn.Linear(weight.shape[1], weight.shape[0]).to(h.dtype)
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        heads.append(head(h))
    return module.up(F.gelu(torch.cat(heads, dim=-1), approximate="tanh"))


@pytest.mark.parametrize("bottleneck, heads", [(96, 4), (12, 3), (8, 1), (16, 16)])
def test_fused_equals_per_head_in_float64(bottleneck, heads):
    torch.manual_seed(0)
    module = MultiHeadModification(32, bottleneck, heads).double()
    module.reset_parameters("normal")
    h = torch.randn(2, 5, 32, dtype=torch.float64)
    torch.testing.assert_close(module(h), per_head_reference(module, h), rtol=0, atol=1e-12)


def test_fused_equals_per_head_in_float32():
    torch.manual_seed(1)
    module = MultiHeadModification(64, 32, 4)
    module.reset_parameters("normal")
    h = torch.randn(3, 7, 64)
    torch.testing.assert_close(module(h), per_head_reference(module, h))


def test_parameter_count_equals_single_head_bottleneck():
    d, r, heads = 768, 96, 4
    module = MultiHeadModification(d, r, heads)
    assert sum(p.numel() for p in module.parameters()) == heads * (d * r // heads + r // heads) + r * d + d == 148_320


def test_zero_up_init_makes_the_modification_vanish():
    module = MultiHeadModification(16, 8, 2)
    module.reset_parameters("zero_up")
    assert torch.count_nonzero(module(torch.randn(2, 3, 16))) == 0
    assert torch.count_nonzero(module.down.weight) > 0


def test_indivisible_bottleneck_is_rejected():
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadModification(16, 10, 4)


@pytest.mark.parametrize("granularity", ["small", "middleX", "middleY", "large"])
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_combination_rule_multiplies_gate_with_adapted_output(granularity, scale):
    """out = s · G ⊙ (H + ΔH); G is multiplied, not added."""
    torch.manual_seed(2)
    modification = MultiHeadModification(16, 8, 2)
    modification.reset_parameters("normal")
    gate = build_gate(granularity, 16, 4)
    gate.reset_parameters("normal")
    combined = GatedSublayerModule(modification, gate, scale)
    x, h = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    adapted = h + modification(h)
    torch.testing.assert_close(combined(x, h), scale * gate(x, adapted) * adapted)
