"""Every gate's shape, broadcasting, parameter count and initial value (vlpet_spec §2.2-2.3)."""

import pytest
import torch

from vlpet.pet.gates import GATES, Gate, build_gate, register_gate

D, B, L = 16, 3, 7


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "name, shape, params",
    [
        ("small", (B, 1, 1), 2 * D + 1),
        ("middleX", (B, L, 1), D + 1),
        ("middleY", (D,), D),
        ("large", (B, L, D), 2 * D * 4 + 4 + D),
    ],
)
def test_gate_shape_and_parameter_count(name, shape, params):
    gate = build_gate(name, D, 4)
    gate.reset_parameters("normal")
    x, h = torch.randn(B, L, D), torch.randn(B, L, D)
    g = gate(x, h)
    assert tuple(g.shape) == shape
    assert (g * h).shape == (B, L, D)  # broadcasts against H'
    assert count(gate) == params


def test_bart_sized_gate_counts_match_the_spec():
    assert count(build_gate("small", 768, None)) == 1537
    assert count(build_gate("middleX", 768, None)) == 769
    assert count(build_gate("middleY", 768, None)) == 768
    assert count(build_gate("large", 768, 96)) == 2 * 768 * 96 + 96 + 768


def test_small_gate_is_token_mean_of_sigmoid_over_concat():
    gate = build_gate("small", D, None)
    gate.reset_parameters("normal")
    x, h = torch.randn(B, L, D), torch.randn(B, L, D)
    w, b = gate.proj.weight[0], gate.proj.bias[0]
    expected = torch.sigmoid(torch.cat([x, h], -1) @ w + b).mean(dim=1)
    torch.testing.assert_close(gate(x, h).view(B), expected)


def test_middle_x_reads_sum_of_input_and_adapted_output():
    gate = build_gate("middleX", D, None)
    gate.reset_parameters("normal")
    x, h = torch.randn(B, L, D), torch.randn(B, L, D)
    expected = torch.sigmoid((x + h) @ gate.proj.weight[0] + gate.proj.bias[0])
    torch.testing.assert_close(gate(x, h).squeeze(-1), expected)


def test_middle_y_is_one_plus_free_vector_independent_of_input():
    gate = build_gate("middleY", D, None)
    gate.reset_parameters("normal")
    g1 = gate(torch.randn(B, L, D), torch.randn(B, L, D))
    g2 = gate(torch.zeros(B, L, D), torch.zeros(B, L, D))
    torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(g1, 1 + gate.vector)


def test_large_gate_reads_x_only():
    gate = build_gate("large", D, 4)
    gate.reset_parameters("normal")
    x = torch.randn(B, L, D)
    torch.testing.assert_close(gate(x, torch.randn(B, L, D)), gate(x, torch.randn(B, L, D)))


@pytest.mark.parametrize("name, value", [("small", 0.5), ("middleX", 0.5), ("middleY", 1.0), ("large", 0.5)])
def test_zero_up_init_gives_the_t5_starting_gate(name, value):
    gate = build_gate(name, D, 4)
    gate.reset_parameters("zero_up")
    g = gate(torch.randn(B, L, D), torch.randn(B, L, D))
    torch.testing.assert_close(g, torch.full_like(g, value))


def test_normal_init_gives_gates_near_the_bart_starting_values():
    torch.manual_seed(0)
    for name, value in [("small", 0.5), ("middleX", 0.5), ("middleY", 1.0), ("large", 0.5)]:
        gate = build_gate(name, 64, 16)
        gate.reset_parameters("normal")
        g = gate(torch.randn(B, L, 64), torch.randn(B, L, 64))
        assert abs(g.mean().item() - value) < 0.1, name


def test_unknown_gate_names_the_allowed_ones():
    with pytest.raises(ValueError, match="small, middleX, middleY, large"):
        build_gate("huge", D, 4)


def test_a_fifth_gate_is_one_registered_class():
    @register_gate("test-constant")
    class ConstantGate(Gate):
        def __init__(self, d_model, gate_bottleneck=None):
            super().__init__()

        def forward(self, x, h):
            return torch.full((1,), 0.25)

        def reset_parameters(self, scheme):
            pass

    try:
        assert isinstance(build_gate("test-constant", D, None), ConstantGate)
    finally:
        GATES.pop("test-constant")
