"""PET-only checkpoints: safetensors with the trainable tensors alone, restored into a fresh build."""

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import TINY_BACKBONES, tiny_batch
from vlpet.build import build_trial_model
from vlpet.pet.state import load_pet_weights, save_pet_weights
from vlpet.trial_config import TrialConfig


def make(backbone, seed):
    torch.manual_seed(seed)
    config = TrialConfig.from_dict({"backbone": backbone, "visual_feat_dim": 16, "bottleneck": 8,
                                    "gate_bottleneck": 8, "decoder_bottleneck": 8, "init": "normal", "seed": seed})
    return build_trial_model(config)


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_round_trip_restores_trainable_tensors_exactly(backbone, tmp_path):
    source = make(backbone, seed=1)
    with torch.no_grad():  # move away from the init so the test can tell restored values from fresh ones
        for p in source.parameters():
            if p.requires_grad:
                p.add_(0.01)
    path = tmp_path / "pet.safetensors"
    save_pet_weights(source, path, metadata={"backbone": backbone})
    saved = load_file(str(path))
    trainable = {n for n, p in source.named_parameters() if p.requires_grad}
    assert set(saved) == trainable

    target = make(backbone, seed=1)  # same backbone weights, PET tensors at their init
    assert not all(torch.equal(saved[n], p) for n, p in target.named_parameters() if n in saved)
    load_pet_weights(target, path)
    for name, param in target.named_parameters():
        if name in saved:
            assert torch.equal(param, saved[name])
    source.eval(), target.eval()
    batch = tiny_batch()
    torch.testing.assert_close(target(**batch).logits, source(**batch).logits)


def test_pet_checkpoint_is_small_relative_to_the_model(tmp_path):
    model = make("tiny-bart", seed=0)
    path = tmp_path / "pet.safetensors"
    save_pet_weights(model, path)
    n_saved = sum(t.numel() for t in load_file(str(path)).values())
    assert n_saved == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_saved < sum(p.numel() for p in model.parameters()) / 2


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    model = make("tiny-bart", seed=0)
    path = tmp_path / "pet.safetensors"
    save_pet_weights(model, path)
    other = build_trial_model(TrialConfig.from_dict({"backbone": "tiny-bart", "visual_feat_dim": 16,
                                                     "bottleneck": 16, "decoder_bottleneck": 8}))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_pet_weights(other, path)
