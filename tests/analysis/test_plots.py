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


# --- the layout of the Pareto and curves plots (issue 20: colliding labels, a log axis with no tick between 10
# and 20, a curves plot whose y axis said only "metric" and whose single-evaluation trials were unexplained dots)

from vlpet.analysis.plot_layout import log_ticks  # noqa: E402
from vlpet.analysis.plots import curves_axes, pareto_axes  # noqa: E402
from vlpet.study.store import StudyStore  # noqa: E402
from tests.analysis.study_factory import make_study, trial  # noqa: E402


@pytest.mark.parametrize("low, high", [(0.3, 160.0), (8.0, 25.0), (0.001, 100.0)])
def test_log_ticks_label_the_points_range_and_keep_apart(low, high):
    import math

    ticks = log_ticks(low, high, 810)
    assert ticks == sorted(ticks) and all(low <= t <= high for t in ticks) and len(ticks) >= 4
    assert min(math.log10(b / a) for a, b in zip(ticks, ticks[1:])) * 810 / math.log10(high / low) >= 36
    if low < 10 and high > 20 and high / low < 1000:     # (over five decades 1-2-5 is what fits)
        assert any(10 < t < 20 for t in ticks)          # e.g. 15, where the quickstart's points lie


def _crowded(tmp_path) -> pd.DataFrame:
    """Nine configurations, five of them within 12-16 % and 1.5 points of accuracy of each other."""
    from vlpet.analysis import load_results

    store = StudyStore(str(tmp_path / "crowded"))
    points = [(12.0, 60.0), (12.4, 60.5), (13.0, 61.0), (14.0, 60.2), (16.0, 61.5), (1.0, 50.0), (3.0, 55.0),
              (100.0, 62.0), (40.0, 58.0)]
    for index, (pct, metric) in enumerate(points):
        trial(store, f"t{index}", {"arm": "vl-pet", "granularity": "large", "bottleneck": 8 * (index + 1)}, 1,
              [metric], pct)
    return load_results(str(tmp_path / "crowded"))


def test_pareto_labels_do_not_collide_and_the_others_are_numbered(tmp_path):
    figure, axis, key = pareto_axes(_crowded(tmp_path))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in axis.texts]
    # frontier (1, 3, 12, 12.4, 13, 16, 100 %) labelled by name; 14 % and 40 % are dominated, so numbered
    assert len(boxes) == 9 and [entry.split(":")[0] for entry in key] == ["1", "2"]
    assert sorted(text.get_text() for text in axis.texts if text.get_text().isdigit()) == ["1", "2"]
    overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert overlapping == []
    labels = [tick.get_text() for tick in axis.get_xticklabels()]
    assert "15" in labels and "10" in labels and "20" in labels


def test_curves_name_their_axes_and_mark_single_evaluation_trials(tmp_path):
    from vlpet.analysis import load_curves

    figure, axis = curves_axes(load_curves(make_study(tmp_path)))
    assert axis.get_xlabel() == "training step" and axis.get_ylabel() == "vqa_acc"
    assert sorted(text.get_text() for text in axis.texts) == ["g1", "h1"]     # the two one-evaluation trials
    assert "a single evaluation (stopped there, or still running)" in axis.get_legend_handles_labels()[1]
