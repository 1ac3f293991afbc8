"""Every shipped trial config validates and its budget builds offline."""

import glob

import pytest

from vlpet.build import trial_budget as budget_for
from vlpet.trial_config import TrialConfig

TRIALS = sorted(glob.glob("search_spaces/trials/*.yaml"))
PAPER_PCT = {"bart_vlpet_small": 2.98, "bart_vlpet_middleX": 2.98, "bart_vlpet_middleY": 2.98,
             "bart_vlpet_large": 4.16, "t5_vlpet_small": 4.51, "t5_vlpet_middleX": 4.50,
             "t5_vlpet_middleY": 4.50, "t5_vlpet_large": 7.31,
             # baselines (vlpet_spec §5): the Table 2 figures of VL-Adapter (BART) and LST (T5)
             "bart_full": 100.0, "bart_prompt": 2.00, "bart_lora": 5.93, "bart_adapter": 4.18, "bart_compacter": 2.70,
             "bart_adapter_large": 4.16, "t5_full": 100.0, "t5_bitfit": 0.83, "t5_prompt": 1.26, "t5_lora": 7.54,
             "t5_adapter": 7.98}


def test_trials_are_shipped():
    assert "search_spaces/trials/quickstart.yaml" in TRIALS and len(TRIALS) >= 22


@pytest.mark.parametrize("path", TRIALS)
def test_trial_validates_and_counts_offline(path):
    budget = budget_for(TrialConfig.from_file(path))
    name = path.rsplit("/", 1)[-1].removeprefix("paper_").removesuffix(".yaml")
    if name in PAPER_PCT:
        assert round(budget["trainable_pct"], 2) == PAPER_PCT[name]
