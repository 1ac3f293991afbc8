"""Plot labels ask the method's registry record, not a list of method names."""

from __future__ import annotations

import pandas as pd
import pytest

from vlpet.analysis.plots import method_reads, point_label


def test_the_methods_with_a_bottleneck_are_read_from_the_registry():
    built_in = ("vl-pet", "full", "bitfit", "prompt", "lora", "adapter", "compacter")
    assert {name for name in built_in if method_reads(name, "bottleneck")} == {"vl-pet", "adapter", "compacter"}
    assert method_reads("lora", "lora_rank") and not method_reads("full", "placement")


@pytest.mark.parametrize("method", ["no-such-method", None, float("nan"), ""])
def test_an_unknown_method_reads_nothing(method):
    assert not method_reads(method, "bottleneck")


@pytest.mark.parametrize("row, label", [
    ({"arm": "vl-pet-large", "method": "vl-pet", "granularity": "large", "bottleneck": 96.0}, "vl-pet-large large r=96"),
    ({"arm": "adapter", "method": "adapter", "granularity": "none", "bottleneck": 48.0}, "adapter r=48"),
    ({"arm": "lora", "method": "lora", "granularity": "none", "bottleneck": 96.0}, "lora"),
    ({"arm": "compacter", "bottleneck": 48.0}, "compacter r=48"),          # no method column: the arm names it
    ({"arm": "mine", "method": "no-such-method", "bottleneck": 8.0}, "mine"),
])
def test_point_label_shows_the_bottleneck_only_for_methods_that_read_it(row, label):
    assert point_label(pd.Series(row)) == label
