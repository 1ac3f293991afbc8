"""The shipped bits ablation, quickstart-sized (search_spaces/bits_quickstart.yaml), run as a real study on a local
Ray with tiny trials: every (arm, bit width) configuration trains, reports ``adapter_bytes``, and the analysis puts
bytes on the table and on the frontier (issue 16.3–16.4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.study.ray_fixtures import TINY_TRIAL
from vlpet.analysis import ablation_table, load_results, pareto_front, render_table
from vlpet.study.runner import run_study
from vlpet.study.spec import load_study

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[2] / "search_spaces" / "bits_quickstart.yaml"


def test_the_quickstart_bits_study_puts_adapter_bytes_on_its_table_and_frontier(ray_session, data, tmp_path):
    study = yaml.safe_load(SHIPPED.read_text())
    assert study["search_space"]["adapter_bits"]["choice"] == [32, 4, 2, 1]
    assert study["objectives"] == {"metric": "max", "adapter_bytes": "min"}
    # The shipped study at miniature size: its arms and objectives, tiny trials on the mini data, two bit widths.
    study["trial"] = {**TINY_TRIAL, "data_dir": str(data), "adapter_quant": "qat", "epochs": 1}
    study["arms"] = [{"name": "vl-pet-large", "trial": {"method": "vl-pet", "granularity": "large"}},
                     {"name": "lora", "trial": {"method": "lora", "lora_rank": 4}}]
    study["search_space"]["adapter_bits"]["choice"] = [32, 1]
    study["seeds"], study["storage"] = [1], str(tmp_path / "bits")
    path = tmp_path / "bits.yaml"
    path.write_text(yaml.safe_dump(study))
    outcome = run_study(load_study(path), verbose=0)
    assert sorted(t["status"] for t in outcome.trials) == ["TERMINATED"] * 4

    frame = load_results(outcome.study_dir)
    table = ablation_table(frame, by=["arm", "adapter_bits"])
    size = {(row.arm, int(row.adapter_bits)): row for row in table.itertuples()}
    assert set(size) == {("vl-pet-large", 32), ("vl-pet-large", 1), ("lora", 32), ("lora", 1)}
    for arm in ("vl-pet-large", "lora"):
        full, one_bit = size[arm, 32], size[arm, 1]
        trainable = frame.loc[frame.arm == arm, "trainable_params"].iloc[0]
        quantised = frame.loc[(frame.arm == arm) & (frame.adapter_bits == 1), "quantised_params"].iloc[0]
        assert full.adapter_bytes == 4 * trainable                       # fp32: four bytes per trained value
        # At 1 bit the quantised tensors shrink ~32x (plus their scales); the rest stays fp32.
        saved = full.adapter_bytes - one_bit.adapter_bytes
        assert 0 < quantised and 0.85 * 4 * quantised * (1 - 1 / 32) < saved <= 4 * quantised * (1 - 1 / 32)
    text = render_table(table, "md")
    assert "adapter KB" in text.splitlines()[0]
    front = pareto_front(frame, {"metric": "max", "adapter_bytes": "min"})
    # Each arm's 1-bit configuration is the smallest of its arm; the smallest overall is always on the frontier.
    smallest = frame.loc[frame.adapter_bytes.idxmin()]
    assert smallest.adapter_bits == 1 and smallest.config_key in set(front.config_key)
