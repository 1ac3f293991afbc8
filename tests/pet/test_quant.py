"""Low-bit PET modules: fake quantisation per output channel, straight-through gradients, qat and ptq, packed
PET-only checkpoints and their size, ``adapter_bytes``."""

import os

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from vlpet.build import build_trial_model
from vlpet.errors import ConfigError
from vlpet.pet.budget import count_parameters
from vlpet.pet.quant import FakeQuant, fake_quantize, pack_codes, quantised_parameters, quantize, unpack_codes
from vlpet.pet.state import load_pet_weights, read_pet_weights, save_pet_weights
from vlpet.testing import TINY_BACKBONES, tiny_batch
from vlpet.testing.conformance import (TINY, MethodConformance, budget, build, norm_names, pet_names, trainable_names,
                                      visual_names)
from vlpet.trial_config import TrialConfig

LOW_BITS = (8, 4, 2, 1)


@pytest.mark.parametrize("bits", LOW_BITS)
def test_fake_quantisation_has_at_most_two_to_the_bits_values_per_output_channel(bits):
    weight = torch.randn(16, 64) * torch.rand(16, 1)
    quantised = fake_quantize(weight, bits)
    assert all(len(row.unique()) <= 2 ** bits for row in quantised)
    assert fake_quantize(quantised, bits).allclose(quantised)  # the quantiser maps its output to itself
    if bits == 1:
        assert torch.equal(quantised, weight.sign() * weight.abs().mean(dim=1, keepdim=True))


def test_sixteen_bits_is_half_precision():
    weight = torch.randn(4, 8) / 3
    assert torch.equal(fake_quantize(weight, 16), weight.half().float())


@pytest.mark.parametrize("bits", LOW_BITS)
def test_codes_pack_into_bits_per_entry_and_unpack(bits):
    codes, scale = quantize(torch.randn(7, 9), bits)
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-63 * bits // 8)
    assert torch.equal(unpack_codes(packed, bits, (7, 9)), codes) and scale.shape == (7,)


@pytest.mark.parametrize("bits", LOW_BITS)
def test_gradients_flow_straight_through(bits):
    layer = nn.Linear(8, 4)
    parametrize.register_parametrization(layer, "weight", FakeQuant(bits))
    x = torch.randn(3, 8)
    layer(x).pow(2).sum().backward()
    latent = layer.parametrizations.weight.original
    effective = fake_quantize(latent.detach(), bits).requires_grad_(True)
    torch.nn.functional.linear(x, effective, layer.bias).pow(2).sum().backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0
    torch.testing.assert_close(latent.grad, effective.grad)  # d loss / d W = d loss / d Q(W)


def test_ptq_trains_in_full_precision_and_evaluates_quantised():
    layer = nn.Linear(8, 4)
    parametrize.register_parametrization(layer, "weight", FakeQuant(2, "ptq"))
    latent = layer.parametrizations.weight.original
    assert torch.equal(layer.weight, latent)
    layer.eval()
    assert torch.equal(layer.weight, fake_quantize(latent, 2)) and not torch.equal(layer.weight, latent)


OWN_MODULES = [("vl-pet", {}), ("adapter", {}), ("compacter", {}), ("lora", {"lora_rank": 4}),
               ("prompt", {"prompt_length": 4, "prompt_hidden": 16})]


@pytest.mark.parametrize("method, extra", OWN_MODULES)
def test_every_own_module_weight_is_quantised_and_nothing_else(method, extra):
    model = build("tiny-t5", method, adapter_bits=4, **extra)
    names = {name for name, p in model.named_parameters() if id(p) in quantised_parameters(model)}
    assert names and all(name.endswith("weight.original") for name in names)
    assert not names & visual_names(model) and not any("norm" in name or "bias" in name for name in names)
    assert trainable_names(model) >= names
    loss = model(**tiny_batch()).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for n, p in model.named_parameters() if n in names)


def test_a_method_with_nothing_to_quantise_is_refused():
    with pytest.raises(ConfigError, match="adapter_bits: method 'dora' adds no weights of vlpet's own PET modules"):
        budget("tiny-bart", "dora", adapter_bits=8)
    with pytest.raises(ConfigError, match="adapter_bits: 3 is not allowed"):
        TrialConfig.from_dict({"adapter_bits": 3})


@pytest.mark.parametrize("quant", ["qat", "ptq"])
def test_a_packed_one_bit_checkpoint_reloads_to_the_same_outputs(quant, tmp_path):
    config = TrialConfig.from_dict({"backbone": "tiny-bart", "adapter_bits": 1, "adapter_quant": quant, **TINY})
    source, target = build_trial_model(config).eval(), build_trial_model(config).eval()
    with torch.no_grad():  # away from the init, so that restored values differ from fresh ones
        for param in source.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.01)
    path = tmp_path / "pet.safetensors"
    save_pet_weights(source, path)
    load_pet_weights(target, path)
    batch = tiny_batch()
    torch.testing.assert_close(target(**batch).logits, source(**batch).logits)
    with open(path, "rb") as handle:  # safetensors: 8-byte header length, the header, then the data
        data = os.path.getsize(path) - 8 - int.from_bytes(handle.read(8), "little")
    assert data == count_parameters(source).adapter_bytes


def test_a_packed_one_bit_bart_base_checkpoint_is_adapter_bytes_within_ten_percent(tmp_path):
    model = build_trial_model(TrialConfig.from_dict({"backbone": "bart-base", "adapter_bits": 1}))
    path = tmp_path / "pet.safetensors"
    save_pet_weights(model, path)
    expected = count_parameters(model).adapter_bytes
    assert abs(os.path.getsize(path) - expected) <= 0.1 * expected


def test_adapter_bytes_of_the_quantised_tensors_are_bits_over_32_plus_one_scale_per_channel():
    full = budget("bart-base", "vl-pet", adapter_bits=32)
    low = {bits: budget("bart-base", "vl-pet", adapter_bits=bits) for bits in (16, *LOW_BITS)}
    quantised = low[8]["quantised_params"]
    rest = full["adapter_bytes"] - 4 * quantised  # biases, norms, the visual projector: always 32 bits
    scales = low[8]["adapter_bytes"] - rest - quantised  # 8 bits: one byte an entry, plus the scales
    assert full["quantised_params"] == 0 and quantised > 4_000_000 and 0 < scales < 0.01 * 4 * quantised
    assert low[16]["adapter_bytes"] - rest == 2 * quantised  # half precision: no scales
    for bits in LOW_BITS:
        assert low[bits]["adapter_bytes"] - rest == quantised * bits // 8 + scales
        assert (low[bits]["adapter_bytes"] - rest) / (4 * quantised) == pytest.approx(bits / 32, rel=0.2)


class TestQuantisedVLPet(MethodConformance):
    """The shared checks with quantised modules (training, frozen tensors, generation on both backbones); the
    checkpoint round trip is the packed one: the file holds codes and scales, and reloads to the same outputs."""

    method = "vl-pet"
    variants = {"1-bit-qat": {"adapter_bits": 1}, "4-bit-ptq": {"adapter_bits": 4, "adapter_quant": "ptq"},
                "16-bit": {"adapter_bits": 16}}

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model) | norm_names(model, ("encoder",))

    @pytest.mark.parametrize("backbone", TINY_BACKBONES)
    def test_pet_checkpoint_round_trip(self, backbone, variant, tmp_path):
        source, target = self.make(backbone, variant).eval(), self.make(backbone, variant).eval()
        with torch.no_grad():
            for param in source.parameters():
                if param.requires_grad:
                    param.add_(0.01)
        path = tmp_path / "pet.safetensors"
        save_pet_weights(source, path)
        assert set(read_pet_weights(path)) == trainable_names(source)
        load_pet_weights(target, path)
        batch = tiny_batch()
        torch.testing.assert_close(target(**batch).logits, source(**batch).logits)
