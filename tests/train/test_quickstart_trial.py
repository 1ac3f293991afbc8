"""The shipped quickstart trial learns to use the image: far above the majority answer, while the same trial
fed the question alone stays at the chance level its question text allows. (Pretrains the tiny backbone once
into the test cache.)"""

import pytest

from vlpet.train.loop import run_trial
from vlpet.trial_config import TrialConfig

TRIAL = "search_spaces/trials/quickstart.yaml"


@pytest.mark.slow
def test_quickstart_vl_pet_beats_the_majority_baseline_and_text_only_does_not(tmp_path):
    common = ["max_steps=600", "eval_every_steps=1000", "test_checkpoint=none"]  # validation suffices here
    vision = run_trial(TrialConfig.from_file(TRIAL, common), str(tmp_path / "vl"))
    text = run_trial(TrialConfig.from_file(TRIAL, common + ["text_only=true"]), str(tmp_path / "text"))
    baseline = vision["majority_baseline"]
    assert vision["metric"] > baseline + 15, vision
    assert vision["metric"] > text["metric"] + 8
    # every question text has "yes" and "no" equally often, so no text-only model can beat 50% on them
    assert text["vqa_acc_yes_no"] <= 50.0 + 1e-9, text
    assert text["metric"] < baseline + 13, text
