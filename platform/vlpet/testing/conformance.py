"""The checks every registered PET method passes on tiny BART and T5.

Each method's test module subclasses :class:`MethodConformance` with its method, its sizes, its variants and its
exact trainable set (``tests/pet/test_method_<name>.py`` for the built-in ones; a method kept outside vlpet
inherits the same class). ``variants`` maps a test id to trial overrides: every check runs once per variant
(VL-PET's four granularities, say).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from vlpet.build import build_trial_model, trial_budget
from vlpet.pet.placement import layer_norm_modules
from vlpet.pet.state import load_pet_weights, save_pet_weights
from vlpet.testing import TINY_BACKBONES, tiny_batch
from vlpet.trial_config import TrialConfig

TINY = {"visual_feat_dim": 16, "bottleneck": 8, "gate_bottleneck": 8, "decoder_bottleneck": 8}


def build(backbone: str, method: str, seed: int = 1, **overrides):
    return build_trial_model(TrialConfig.from_dict({"backbone": backbone, "method": method, "seed": seed,
                                                    **TINY, **overrides}))


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def pet_names(model) -> set[str]:
    """Names of the parameters of the injected PET modules (stored as ``vlpet_<placement>`` submodules)."""
    return {n for n, _ in model.named_parameters() if ".vlpet_" in n}


def visual_names(model) -> set[str]:
    return {n for n, _ in model.named_parameters() if n.startswith("visual.")}


def norm_names(model, stacks: tuple[str, ...]) -> set[str]:
    """Names of the weights (and BART biases) of the backbone norms of ``stacks``."""
    ids = {id(p) for m in layer_norm_modules(model.backbone, stacks) for p in m.parameters(recurse=False)}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def budget(backbone: str, method: str, **overrides) -> dict:
    return trial_budget(TrialConfig.from_dict({"backbone": backbone, "method": method, **overrides}))


class MethodConformance:
    """Forward/backward, gradients exactly on the trainable set, frozen tensors untouched by a step, PET-only
    checkpoint round trip and generation, on both tiny backbones."""

    method: str = ""
    overrides: dict = {}
    variants: dict[str, dict] = {"default": {}}

    def pytest_generate_tests(self, metafunc) -> None:
        """Run every check once per variant (pytest calls this hook on test classes too)."""
        if "variant" in metafunc.fixturenames:
            metafunc.parametrize("variant", list(self.variants.values()), ids=list(self.variants))

    def make(self, backbone: str, variant: dict, seed: int = 1):
        return build(backbone, self.method, seed, **{**self.overrides, **variant})

    def expected_trainable(self, model, backbone: str) -> set[str]:  # pragma: no cover - interface
        raise NotImplementedError

    @pytest.mark.parametrize("backbone", TINY_BACKBONES)
    def test_trains_exactly_the_expected_tensors(self, backbone, variant):
        model = self.make(backbone, variant)
        assert trainable_names(model) == self.expected_trainable(model, backbone)

    @pytest.mark.parametrize("backbone", TINY_BACKBONES)
    def test_gradients_only_where_trainable_and_frozen_tensors_stay(self, backbone, variant):
        model = self.make(backbone, variant)
        trainable = trainable_names(model)
        frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n not in trainable}
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        model.train()
        loss = model(**tiny_batch()).loss
        assert torch.isfinite(loss)
        loss.backward()
        for name, param in model.named_parameters():
            assert (param.grad is not None) == (name in trainable), name
        assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n in trainable)
        optimizer.step()
        for name, param in model.named_parameters():
            if name in frozen:
                assert torch.equal(param, frozen[name]), f"frozen {name} changed"

    @pytest.mark.parametrize("backbone", TINY_BACKBONES)
    def test_pet_checkpoint_round_trip(self, backbone, variant, tmp_path):
        source = self.make(backbone, variant)
        with torch.no_grad():  # move away from the init so restored values differ from fresh ones
            for param in source.parameters():
                if param.requires_grad:
                    param.add_(0.01)
        path = tmp_path / "pet.safetensors"
        save_pet_weights(source, path)
        saved = load_file(str(path))
        assert set(saved) == trainable_names(source)
        target = self.make(backbone, variant)
        load_pet_weights(target, path)
        params = dict(target.named_parameters())
        assert all(torch.equal(params[name], tensor) for name, tensor in saved.items())
        source.eval(), target.eval()
        batch = tiny_batch()
        torch.testing.assert_close(target(**batch).logits, source(**batch).logits)

    @pytest.mark.parametrize("backbone", TINY_BACKBONES)
    def test_generation_runs(self, backbone, variant):
        model = self.make(backbone, variant).eval()
        batch = tiny_batch()
        batch.pop("labels")
        assert model.generate(**batch, max_new_tokens=3, num_beams=2, do_sample=False).shape[0] == 2
