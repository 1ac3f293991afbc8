"""Parameter budgets at the paper's sizes, from meta-device builds (vlpet_spec §1.4, §6)."""

import pytest

from vlpet.build import trial_budget as budget_for
from vlpet.trial_config import TrialConfig

BOTTLENECK = lambda d, r: 2 * d * r + r + d  # noqa: E731  d→r→d with biases
GATE = {"small": 2 * 768 + 1, "middleX": 768 + 1, "middleY": 768}


def gate_params(granularity, r_g):
    return GATE.get(granularity) or 2 * 768 * r_g + r_g + 768


@pytest.mark.parametrize("granularity", ["small", "middleX", "middleY", "large"])
def test_bart_base_budget_follows_the_spec_formula(granularity):
    budget = budget_for(TrialConfig.from_dict({"backbone": "bart-base", "granularity": granularity}))
    encoder = 12 * (BOTTLENECK(768, 96) + gate_params(granularity, 96))
    expected_trainable = encoder + 6 * BOTTLENECK(768, 96) + 19_968 + 1_582_848
    backbone_total = 139_420_416 + 200 * 768  # checkpoint size + the 200 VL tokens
    assert budget["trainable_params"] == expected_trainable
    assert budget["total_params"] == backbone_total + 1_582_848 + encoder + 6 * BOTTLENECK(768, 96)
    assert budget["breakdown"]["visual projector"] == 1_582_848
    assert budget["breakdown"]["layer norms"] == 19_968
    assert budget["breakdown"]["backbone"] == 0


@pytest.mark.parametrize("granularity", ["small", "middleX", "middleY", "large"])
def test_t5_base_budget_follows_the_spec_formula(granularity):
    budget = budget_for(TrialConfig.from_dict({"backbone": "t5-base", "granularity": granularity}))
    encoder = 24 * (BOTTLENECK(768, 192) + gate_params(granularity, 192))
    decoder = 12 * BOTTLENECK(768, 96)
    assert budget["trainable_params"] == encoder + decoder + 19_200 + 1_581_312
    assert budget["total_params"] == 222_903_552 + 72 * 768 + 1_581_312 + encoder + decoder


@pytest.mark.parametrize(
    "backbone, granularity, pct",
    [("bart-base", "small", 2.98), ("bart-base", "middleX", 2.98), ("bart-base", "middleY", 2.98),
     ("bart-base", "large", 4.16), ("t5-base", "small", 4.51), ("t5-base", "middleX", 4.50),
     ("t5-base", "middleY", 4.50), ("t5-base", "large", 7.31)],
)
def test_trainable_percentages_reproduce_the_paper(backbone, granularity, pct):
    budget = budget_for(TrialConfig.from_dict({"backbone": backbone, "granularity": granularity}))
    assert round(budget["trainable_pct"], 2) == pct


def test_breakdown_sums_to_trainable():
    budget = budget_for(TrialConfig.from_dict({"backbone": "bart-base", "placement": [
        "encoder.attn", "decoder.self_attn", "decoder.ffn", "decoder.cross_attn.value"]}))
    assert sum(budget["breakdown"].values()) == budget["trainable_params"]
    assert budget["breakdown"]["decoder modules"] == 12 * BOTTLENECK(768, 96) + 6 * BOTTLENECK(768, 96)
