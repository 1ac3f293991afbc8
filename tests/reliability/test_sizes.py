"""Sizes checked against the data and the architecture (issue 18.6): a visual grid larger than the tasks' feature
grid and prompt vectors beyond the encoder's positions are refused with one line (``vlpet params``, ``vlpet
train``), and the largest prompt allowed really runs through the backbone; ``vlpet params`` counts on the meta
device, so the largest sizes allowed cost no weight memory."""

from __future__ import annotations

import resource

import pytest
import torch

from vlpet.build import build_trial_model
from vlpet.cli import main
from vlpet.errors import ConfigError
from vlpet.testing import tiny_batch
from vlpet.trial_config import TrialConfig


def refused(argv: list[str], capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, (status, err)
    return err


@pytest.mark.parametrize("sets, expect", [
    (["visual_grid=8"], "visual_grid: 8 is larger than the 7x7 feature grid of task quickstart"),
    (["visual_grid=60000"], "at most 7, or none to keep it"),
    (["method=prompt", "prompt_length=2000", "backbone=bart-base"],
     "prompt_length: 2000 prompt vectors, up to 20 text tokens and 36 visual tokens need 2056 encoder positions, "
     "but backbone bart-base has 1024; use prompt_length of at most 968"),
    (["method=prompt", "prompt_length=300", "backbone=quickstart:tiny-bart"], "quickstart:tiny-bart has 256"),
])
def test_params_and_train_refuse_sizes_the_data_or_backbone_cannot_hold(sets, expect, capsys, tmp_path):
    argv = [arg for pair in sets for arg in ("--set", pair)]
    assert expect in refused(["params", *argv], capsys)
    assert expect in refused(["train", *argv, "--out", str(tmp_path / "out")], capsys)
    assert not (tmp_path / "out").exists()


def test_the_largest_prompt_allowed_runs_and_one_more_would_not():
    """Text and visual tokens both take encoder positions (tiny-bart: 256) next to the prompt vectors."""
    text, visual = 20, 36                               # the quickstart's max_source_len; visual_grid 6
    largest = {"backbone": "tiny-bart", "method": "prompt", "prompt_length": 256 - text - visual, "visual_feat_dim": 16}
    model = build_trial_model(TrialConfig.from_dict(largest), pretrained=False)
    with torch.no_grad():
        assert torch.isfinite(model(**tiny_batch(text_len=text, feat_dim=16)).loss)
        with pytest.raises(IndexError):                 # one position more is past the backbone's table
            model(**tiny_batch(text_len=text + 1, feat_dim=16))
    with pytest.raises(ConfigError, match="use prompt_length of at most 200"):
        TrialConfig.from_dict({**largest, "prompt_length": 201})


def test_t5_has_relative_positions_and_no_prompt_limit_from_them():
    assert TrialConfig.from_dict({"backbone": "t5-base", "method": "prompt", "prompt_length": 4000}).backbone


def test_params_at_the_largest_sizes_allowed_allocates_no_weights(capsys):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["params", "--json", "--set", "backbone=t5-base", "--set", "method=lora",
                 "--set", "lora_rank=65536"]) == 0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert '"trainable_params"' in capsys.readouterr().out and grown_mb < 500, grown_mb
