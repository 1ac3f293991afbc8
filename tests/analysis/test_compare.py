"""vlpet.analysis.compare against values computed by hand: paired tests over shared seeds, Holm, ties, one seed."""

from __future__ import annotations

import itertools
import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest

from vlpet.analysis import compare, load_curves, load_results
from vlpet.analysis.compare import COLUMNS, CONSTANT, IDENTICAL, NO_SHARED_SEED, SINGLE_SEED, holm
from vlpet.errors import ConfigError
from tests.analysis.study_factory import make_study, trial
from vlpet.study.store import StudyStore

SEEDS = [1, 2, 3, 4, 5]
LARGE = [60.0, 61.0, 62.0, 63.0, 64.0]
DIFFERENCES = [0.5, 1.0, 1.5, -0.2, 0.8]          # large − small per seed: mean 0.72, one negative
T_975_DF4 = 2.7764451051977987                     # Student t quantile (0.975, 4 df), from any t table


def _rows(arm_setting: str, values: list[float], seeds: list[int] = SEEDS, **extra) -> list[dict]:
    arm, _, setting = arm_setting.partition(" ")
    return [{"config_key": arm_setting, "seed": seed, "metric": value, "finished": True, "arm": arm,
             "setting": setting or "–", **extra} for seed, value in zip(seeds, values)]


def _pair_frame() -> pd.DataFrame:
    small = [v - d for v, d in zip(LARGE, DIFFERENCES)]
    return pd.DataFrame(_rows("vl-pet granularity=large", LARGE) + _rows("vl-pet granularity=small", small))


def _large_vs_small(test: str) -> pd.Series:
    result = compare(_pair_frame(), "metric", baseline="vl-pet (granularity=small)", test=test)
    assert len(result) == 1
    return result.iloc[0]


def _check_pair_columns(row: pd.Series) -> None:
    assert (row["a"], row["b"], row["n"]) == ("vl-pet (granularity=large)", "vl-pet (granularity=small)", 5)
    assert row["mean_a"] == pytest.approx(62.0) and row["mean_b"] == pytest.approx(62.0 - 0.72)
    assert row["diff"] == pytest.approx(0.72) and row["note"] == ""


def test_paired_t_test_matches_the_hand_computed_t_interval_and_p_value():
    row = _large_vs_small("t")
    _check_pair_columns(row)
    sd = statistics.stdev(DIFFERENCES)                                     # sqrt(1.588 / 4)
    t = 0.72 / (sd / math.sqrt(5))                                         # 2.555
    x = t * t / (4 + t * t)
    p_two_sided = 1 - math.sqrt(x) * (1 + (1 - x) / 2)                     # closed-form t CDF for 4 df
    assert row["p_value"] == pytest.approx(p_two_sided, rel=1e-9) and row["p_value"] == pytest.approx(0.06296, abs=1e-5)
    half = T_975_DF4 * sd / math.sqrt(5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.72 - half, 0.72 + half), rel=1e-9)
    assert row["p_holm"] == row["p_value"] and row["verdict"] == "tied"     # a family of one; p > 0.05


def test_paired_t_test_finds_a_consistent_difference_significant():
    small = [v - d for v, d in zip(LARGE, [0.5, 1.0, 1.5, 1.0, 0.8])]      # mean 0.96, sd sqrt(0.133)
    frame = pd.DataFrame(_rows("vl-pet granularity=large", LARGE) + _rows("vl-pet granularity=small", small))
    row = compare(frame, "metric").iloc[0]                                 # baseline: the best, large
    t = -0.96 / math.sqrt(0.133 / 5)
    x = t * t / (4 + t * t)
    assert row["a"] == "vl-pet (granularity=small)" and row["diff"] == pytest.approx(-0.96)
    assert row["p_value"] == pytest.approx(1 - math.sqrt(x) * (1 + (1 - x) / 2), rel=1e-9)
    assert row["p_value"] < 0.05 and row["verdict"] == "worse"


def test_wilcoxon_signed_rank_matches_the_exact_hand_count():
    row = _large_vs_small("wilcoxon")
    _check_pair_columns(row)
    # |d| ranks: 0.2→1, 0.5→2, 0.8→3, 1.0→4, 1.5→5; the negative rank sum is W = 1. Of the 2^5 equally likely
    # sign patterns, W <= 1 in two ({} and {1}): two-sided p = 2 * 2/32.
    assert row["p_value"] == pytest.approx(0.125)
    _check_bootstrap_interval(row)


def test_bootstrap_sign_flip_p_value_and_percentile_interval_match_the_enumerations():
    row = _large_vs_small("bootstrap")
    _check_pair_columns(row)
    magnitudes = np.abs(DIFFERENCES)
    means = [np.mean(np.array(signs) * magnitudes) for signs in itertools.product((1, -1), repeat=5)]
    at_least = sum(m >= 0.72 - 1e-9 for m in means)                        # {} and {0.2} flipped: 2 of 32
    assert at_least == 2 and row["p_value"] == pytest.approx(2 * at_least / 32)
    _check_bootstrap_interval(row)
    assert compare(_pair_frame(), "metric", test="bootstrap").equals(compare(_pair_frame(), "metric", test="bootstrap"))


def _check_bootstrap_interval(row: pd.Series) -> None:
    """The Monte Carlo percentile interval is close to the exact one over all 5^5 resamples of the seed pairs."""
    resampled = [np.mean(np.array(DIFFERENCES)[list(pick)]) for pick in itertools.product(range(5), repeat=5)]
    low, high = np.percentile(resampled, [2.5, 97.5])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=0.05)
    assert min(DIFFERENCES) <= row["ci_low"] < 0.72 < row["ci_high"] <= max(DIFFERENCES)


def test_holm_step_down_on_a_known_family():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.005, np.nan]))
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adjusted[4])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])          # capped at 1
    assert holm(np.array([])).size == 0


def test_compare_holm_corrects_over_the_rows_it_returns_and_skips_untested_rows():
    frame = pd.DataFrame(
        _rows("best", LARGE)
        + _rows("near", [v - d for v, d in zip(LARGE, DIFFERENCES)])
        + _rows("far", [v - d for v, d in zip(LARGE, [2.0, 2.5, 3.0, 2.2, 2.4])])
        + _rows("mid", [v - d for v, d in zip(LARGE, [1.0, 1.2, 0.9, 1.4, 1.1])])
        + _rows("once", [50.0], seeds=[3]))
    result = compare(frame, "metric").set_index("a")
    assert list(result.index) == ["near", "mid", "far", "once"] and set(result["b"]) == {"best"}
    p = result["p_value"]
    ordered = sorted(p.drop("once").items(), key=lambda item: item[1])   # m = 3: the single seed is not counted
    expected, running = {}, 0.0
    for j, (label, value) in enumerate(ordered):
        running = max(running, min(1.0, (3 - j) * value))
        expected[label] = running
    assert result["p_holm"].drop("once").to_dict() == pytest.approx(expected)
    assert math.isnan(result.loc["once", "p_holm"]) and result.loc["once", "verdict"] == "no test"


@pytest.mark.parametrize("test", ["t", "wilcoxon", "bootstrap"])
def test_ties_on_every_seed_give_p_one_without_warnings(test):
    frame = pd.DataFrame(_rows("lora", LARGE) + _rows("adapter", LARGE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = compare(frame, "metric", test=test).iloc[0]
    assert (row["n"], row["diff"], row["ci_low"], row["ci_high"], row["p_value"], row["p_holm"]) == (5, 0, 0, 0, 1, 1)
    assert row["verdict"] == "tied" and row["note"] == IDENTICAL


@pytest.mark.parametrize("test, p_value", [("t", 0.0), ("wilcoxon", 0.0625), ("bootstrap", 0.0625)])
def test_a_constant_nonzero_difference_is_tested_and_noted(test, p_value):
    frame = pd.DataFrame(_rows("lora", LARGE) + _rows("adapter", [v - 1 for v in LARGE]))
    row = compare(frame, "metric", test=test).iloc[0]
    assert row["diff"] == pytest.approx(-1) and row["p_value"] == pytest.approx(p_value) and row["note"] == CONSTANT
    assert row["ci_low"] == pytest.approx(-1) and row["ci_high"] == pytest.approx(-1)


@pytest.mark.parametrize("test", ["t", "wilcoxon", "bootstrap"])
def test_a_single_shared_seed_gets_no_test_and_says_so(test):
    frame = pd.DataFrame(_rows("lora", [60.0], seeds=[1]) + _rows("adapter", [58.0, 57.0], seeds=[1, 2])
                         + _rows("full", [59.0], seeds=[7]))
    result = compare(frame, "metric", test=test).set_index("a")
    single = result.loc["adapter"]
    assert single["n"] == 1 and single["diff"] == -2.0 and single["note"] == SINGLE_SEED
    assert math.isnan(single["p_value"]) and math.isnan(single["ci_low"]) and single["verdict"] == "no test"
    apart = result.loc["full"]
    assert apart["n"] == 0 and apart["note"] == NO_SHARED_SEED and math.isnan(apart["diff"])
    assert apart["mean_a"] == 59.0 and apart["mean_b"] == 60.0


def test_pairs_use_only_shared_seeds_and_only_finished_final_rows():
    frame = pd.DataFrame(
        _rows("lora", [60.0, 61.0, 62.0, 99.0], seeds=[1, 2, 3, 4])
        + _rows("adapter", [59.0, 60.5, 60.0], seeds=[1, 2, 3])
        + _rows("adapter", [99.0], seeds=[4], finished=False))             # stopped: does not count
    row = compare(frame, "metric").iloc[0]
    assert (row["a"], row["b"], row["n"]) == ("adapter", "lora", 3)
    assert row["mean_b"] == pytest.approx(61.0) and row["diff"] == pytest.approx((-1 - 0.5 - 2) / 3)


def test_mode_min_picks_the_lowest_as_best_and_baseline_by_label_or_key(tmp_path):
    frame = pd.DataFrame(_rows("lora", [3.0, 4.0]) + _rows("adapter", [1.0, 2.5]))
    assert compare(frame, "metric", mode="min").iloc[0][["a", "b"]].tolist() == ["lora", "adapter"]
    assert compare(frame, "metric", baseline="lora").iloc[0][["a", "b"]].tolist() == ["adapter", "lora"]
    results = load_results(make_study(tmp_path))
    key = results.loc[results["trial_id"] == "c1", "config_key"].iloc[0]
    assert set(compare(results, "metric", baseline=key)["b"]) == {"adapter"}


def test_a_study_directory_frame_and_its_per_evaluation_curves_give_the_same_comparison(tmp_path):
    store = StudyStore(str(tmp_path / "s"))
    for seed in (1, 2, 3):
        trial(store, f"l{seed}", {"arm": "lora"}, seed, [40.0, 60.0 + seed], 1.0)
        trial(store, f"a{seed}", {"arm": "adapter"}, seed, [45.0, 58.0 + seed * 1.5], 4.0)
    trial(store, "a4", {"arm": "adapter"}, 4, [70.0], 4.0, status="STOPPED", finished=False)
    per_trial = compare(load_results(str(tmp_path / "s")), "metric")
    per_evaluation = compare(load_curves(str(tmp_path / "s")), "metric")
    pd.testing.assert_frame_equal(per_trial, per_evaluation)
    row = per_trial.iloc[0]
    assert (row["a"], row["b"], row["n"]) == ("adapter", "lora", 3) and row["diff"] == pytest.approx(-1.0)


def test_labels_name_the_study_when_several_and_stay_unique(tmp_path):
    frame = load_results(make_study(tmp_path, "one"), make_study(tmp_path, "two"))
    result = compare(frame, "metric")
    labels = {*result["a"], *result["b"]}
    assert len(labels) == 10 and "one: vl-pet (granularity=small)" in labels


def test_one_configuration_has_nothing_to_compare():
    result = compare(pd.DataFrame(_rows("lora", LARGE)), "metric")
    assert result.empty and list(result.columns) == COLUMNS


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "speed"}, "unknown compare column"),
    ({"metric": "metric", "test": "anova"}, "allowed: t, wilcoxon, bootstrap"),
    ({"metric": "metric", "alpha": 5}, "alpha must be between 0 and 1"),
    ({"metric": "metric", "mode": "up"}, "mode 'up' is not allowed"),
    ({"metric": "metric", "baseline": "nope"}, "baseline 'nope' is not a configuration"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compare(_pair_frame(), **kwargs)
