"""Injection into tiny BART and T5 at every placement: forward/backward, gradients only where intended,
frozen weights untouched by an optimizer step, exact placement in the residual stream."""

import pytest
import torch
from torch.nn import functional as F

from tests.conftest import TINY_BACKBONES, tiny_batch
from vlpet.build import build_trial_model
from vlpet.models import build_vl_model
from vlpet.pet.placement import PLACEMENTS, layer_norm_modules
from vlpet.trial_config import TrialConfig


def make(backbone, **overrides):
    config = TrialConfig.from_dict({"backbone": backbone, "visual_feat_dim": 16, "bottleneck": 8,
                                    "gate_bottleneck": 8, "decoder_bottleneck": 8, **overrides})
    return build_trial_model(config)


def expected_trainable(model, train_norms="encoder"):
    stacks = {"encoder": ("encoder",), "all": ("encoder", "decoder"), "none": ()}[train_norms]
    names = {id(p) for m in layer_norm_modules(model.backbone, stacks) for p in m.parameters()}
    return {n for n, p in model.named_parameters() if n.startswith("visual.") or ".vlpet_" in n or id(p) in names}


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_placement_trains_only_the_intended_tensors(backbone, placement):
    model = make(backbone, placement=[placement], granularity="large")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected_trainable(model)
    assert any(".vlpet_" in n for n in trainable)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = model(**tiny_batch()).loss
    loss.backward()
    for name, param in model.named_parameters():
        assert (param.grad is not None) == (name in trainable), name
    assert any(param.grad.abs().sum() > 0 for n, param in model.named_parameters() if ".vlpet_" in n)
    optimizer.step()
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), f"frozen {name} changed"


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_identity_modules_leave_the_backbone_output_unchanged(backbone, placement):
    """With ΔH = 0, G = 1 (middleY zero-init) and s = 1 the injected model computes the pristine function."""
    torch.manual_seed(0)
    pristine = build_vl_model(backbone, 16)
    model = make(backbone, placement=[placement], granularity="middleY", init="zero_up", gate_scale=1.0)
    model.visual.load_state_dict(pristine.visual.state_dict())
    model.backbone.load_state_dict(pristine.backbone.state_dict(), strict=False)
    pristine.eval(), model.eval()
    batch = tiny_batch()
    torch.testing.assert_close(model(**batch).logits, pristine(**batch).logits)


def _paired_layers(backbone):
    torch.manual_seed(0)
    pristine = build_vl_model(backbone, 16)
    model = make(backbone, placement=["encoder.attn", "encoder.ffn"], granularity="middleY", init="zero_up",
                 gate_scale=0.5)
    model.backbone.load_state_dict(pristine.backbone.state_dict(), strict=False)
    pristine.eval(), model.eval()
    return pristine.backbone, model.backbone


def test_bart_post_ln_placement_matches_the_spec_equation():
    """BART: out = LayerNorm(X + s·G⊙(H+ΔH)) around self-attention and the FFN."""
    pristine, model = _paired_layers("tiny-bart")
    layer, ref = model.model.encoder.layers[0], pristine.model.encoder.layers[0]
    x = torch.randn(2, 6, 64)
    with torch.no_grad():
        y = ref.self_attn_layer_norm(x + 0.5 * ref.self_attn(x, attention_mask=None)[0])
        ffn = ref.fc2(ref.activation_fn(ref.fc1(y)))
        expected = ref.final_layer_norm(y + 0.5 * ffn)
        torch.testing.assert_close(layer(x, attention_mask=None), expected)


def test_t5_pre_ln_placement_matches_the_spec_equation():
    """T5: out = X + s·G⊙(H+ΔH) with H = Sub(RMSNorm(X))."""
    pristine, model = _paired_layers("tiny-t5")
    block, ref = model.encoder.block[1], pristine.encoder.block[1]
    x = torch.randn(2, 6, 64)
    with torch.no_grad():
        attn = ref.layer[0].SelfAttention(ref.layer[0].layer_norm(x))[0]
        y = x + 0.5 * attn
        expected = y + 0.5 * ref.layer[1].DenseReluDense(ref.layer[1].layer_norm(y))
        torch.testing.assert_close(block(x)[0], expected)


@pytest.mark.parametrize("backbone, value_path", [("tiny-bart", "encoder_attn.v_proj"),
                                                  ("tiny-t5", "layer.1.EncDecAttention.v")])
def test_value_adapter_runs_in_parallel_to_the_value_projection(backbone, value_path):
    """V = (W_v E + b_v) + W_u·GELU_tanh(W_d E + b_d) + b_u; the key path is untouched."""
    model = make(backbone, placement=["decoder.cross_attn.value"], init="normal")
    layers = model.backbone.model.decoder.layers if backbone == "tiny-bart" else model.backbone.decoder.block
    layer = layers[0]
    projection, adapter = layer.get_submodule(value_path), layer.vlpet_decoder_cross_attn_value
    e = torch.randn(2, 9, 64)
    with torch.no_grad():
        expected = F.linear(e, projection.weight, projection.bias) + adapter.up(F.gelu(adapter.down(e), approximate="tanh"))
        torch.testing.assert_close(projection(e), expected)


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_generation_runs_with_modules_injected(backbone):
    model = make(backbone, placement=list(PLACEMENTS))
    model.eval()
    batch = tiny_batch()
    batch.pop("labels")
    greedy = model.generate(**batch, max_new_tokens=4, num_beams=1, do_sample=False)
    beams = model.generate(**batch, max_new_tokens=4, num_beams=3, do_sample=False)
    assert greedy.shape[0] == beams.shape[0] == 2


@pytest.mark.parametrize("train_norms", ["encoder", "all", "none"])
def test_train_norms_selects_the_norm_stacks(train_norms):
    model = make("tiny-bart", train_norms=train_norms)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected_trainable(model, train_norms)
