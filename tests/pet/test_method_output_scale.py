"""The example method (tests/pet/examples/output_scale.py) registers like a built-in one, routes its own key,
passes the shared conformance suite and is counted by the budget."""

import pytest
import torch

from tests.pet.examples import output_scale
from vlpet.errors import ConfigError
from vlpet.pet.registry import METHODS, register_method, registered_methods
from vlpet.testing import tiny_batch
from vlpet.testing.conformance import MethodConformance, budget, build, pet_names, visual_names
from vlpet.trial_config import TrialConfig, field_help


@pytest.fixture(scope="module", autouse=True)
def registered():
    registered_methods()
    register_method(output_scale.METHOD)
    yield
    METHODS.pop("output-scale")


class TestOutputScale(MethodConformance):
    method = "output-scale"
    variants = {"default": {}, "encoder-only": {"placement": ["encoder.attn", "encoder.ffn"], "scale_init": 0.5}}

    def expected_trainable(self, model, backbone):
        return pet_names(model) | visual_names(model)


def test_its_key_is_routed_to_its_options_and_documented():
    config = TrialConfig.from_dict({"backbone": "tiny-bart", "method": "output-scale", "scale_init": 2})
    assert config.options.scale_init == 2.0 and config.to_dict()["scale_init"] == 2.0
    assert "initial value" in field_help()["scale_init"]
    with pytest.raises(ConfigError, match="scale_init: must be positive"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "method": "output-scale", "scale_init": 0})
    with pytest.raises(ConfigError, match="decoder.cross_attn.value is not one"):
        TrialConfig.from_dict({"backbone": "tiny-bart", "method": "output-scale",
                               "placement": ["decoder.cross_attn.value"]})


def test_scale_one_leaves_the_backbone_unchanged_and_budget_counts_one_vector_per_layer():
    model, plain = build("tiny-bart", "output-scale").eval(), build("tiny-bart", "full").eval()
    batch = tiny_batch()
    torch.testing.assert_close(model(**batch).logits, plain(**batch).logits)
    counted = budget("bart-base", "output-scale")["breakdown"]
    assert counted["encoder modules"] == counted["decoder modules"] == 6 * 768
