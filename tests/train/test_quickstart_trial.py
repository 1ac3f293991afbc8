"""The shipped quickstart trial learns to use the image: far above the majority answer, while the same trial
fed the question alone stays near it. (Pretrains the tiny backbone once into the test cache.)"""

import pytest

from vlpet.train.loop import run_trial
from vlpet.trial_config import TrialConfig

TRIAL = "search_spaces/trials/quickstart.yaml"


@pytest.mark.slow
def test_quickstart_vl_pet_beats_the_majority_baseline_and_text_only_does_not(tmp_path):
    common = ["max_steps=600", "eval_every_steps=1000", "eval_size=600"]
    vision = run_trial(TrialConfig.from_file(TRIAL, common), str(tmp_path / "vl"))
    text = run_trial(TrialConfig.from_file(TRIAL, common + ["text_only=true"]), str(tmp_path / "text"))
    baseline = vision["majority_baseline"]
    assert vision["metric"] > baseline + 8, vision
    assert text["metric"] < baseline + 5, text
    assert vision["metric"] > text["metric"] + 8
