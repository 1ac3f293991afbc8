"""Full fine-tuning: every tensor trains; the budget is 100 %."""

import pytest

from vlpet.testing.conformance import MethodConformance, budget


class TestFull(MethodConformance):
    method = "full"

    def expected_trainable(self, model, backbone):
        return {n for n, _ in model.named_parameters()}


@pytest.mark.parametrize("backbone, total", [("bart-base", 139_420_416 + 200 * 768 + 1_582_848),
                                             ("t5-base", 222_903_552 + 72 * 768 + 1_581_312)])
def test_full_budget_is_the_whole_vl_model(backbone, total):
    result = budget(backbone, "full")
    assert result["trainable_params"] == result["total_params"] == total
    assert result["trainable_pct"] == 100.0


def test_full_defaults_follow_the_scripts():
    from vlpet.trial_config import TrialConfig

    assert TrialConfig.from_dict({"backbone": "bart-base", "method": "full"}).lr == 1e-4
    assert TrialConfig.from_dict({"backbone": "t5-base", "method": "full"}).lr == 1e-4
