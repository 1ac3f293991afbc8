"""Numbers and configuration labels as the report page, the Markdown/LaTeX tables and the plots show them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vlpet.analysis.formatting import number, scientific, setting_label, setting_labels
from vlpet.analysis.rendering import ranks


@pytest.mark.parametrize("value, key, text", [
    (0.003488960745139224, "lr", "3.5e-3"), (0.003, "lr", "3.0e-3"), (1e-4, "learning_rate", "1.0e-4"),
    (61.5, "vqa_acc", "61.50"), (61.5, "test_metric", "61.50"), (12.3851, "trainable_pct", "12.39"),
    (1234567, "trainable_params", "1,234,567"), (1234567.0, "total_params", "1,234,567"), (3, "n", "3"),
    (0.0312, "p_holm", "0.0312"), (3600.0, "wall_s", "3,600.0"), (0.214, "cpu_hours", "0.21"),
    (math.nan, "metric", "–"), (None, "metric", "–"), ("large", "granularity", "large"), (1e-5, "eps_x", "1.0e-5"),
])
def test_numbers_are_written_for_reading(value, key, text):
    assert number(value, key) == text


def test_scientific_has_no_padded_exponent():
    assert [scientific(v) for v in (0.00349, 12345.0, 1.0)] == ["3.5e-3", "1.2e4", "1.0e0"]


def test_labels_format_every_number_they_hold():
    assert setting_label("granularity=large, lr=0.003488960745139224") == "granularity=large, lr=3.5e-3"
    assert setting_label("vl-pet (bottleneck=96, lr=0.0011)") == "vl-pet (bottleneck=96, lr=1.1e-3)"
    assert setting_label("dropout=0.1, placement=enc.attn+dec.xattn.v") == "dropout=0.1, placement=enc.attn+dec.xattn.v"
    assert setting_label(None) == "–"


def test_distinct_settings_keep_distinct_labels():
    labels = setting_labels(["lr=0.003488960745139224", "lr=0.0035", "lr=0.001"])
    assert labels == ["lr=3.49e-3", "lr=3.50e-3", "lr=1.00e-3"] and len(set(labels)) == 3
    assert setting_labels(["lr=0.0035", "lr=0.001"]) == ["lr=3.5e-3", "lr=1.0e-3"]


def test_values_that_print_alike_share_their_rank():
    # 12.3851 and 12.3912 both print as 12.39: both best (lower is better), 15.00 second
    assert ranks(pd.Series([12.3851, 12.3912, 15.0, 20.5]), "min") == {0: 1, 1: 1, 2: 2}
    assert ranks(pd.Series([61.504, 61.496, 60.0]), "max") == {0: 1, 1: 1, 2: 2}
    assert ranks(pd.Series([5.0, math.nan]), "max") == {}
