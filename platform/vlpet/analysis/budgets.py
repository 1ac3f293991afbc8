"""Equal-budget analysis of a study with ``budgets`` (vlpet.study.budgets): accuracy-vs-budget curves per method
and a budget-banded leaderboard, pure functions of the results frame (:func:`vlpet.analysis.results.load_results`).

At each budget target, each method's (``budget_arm``'s) configurations are those of its sized arm; validation
selects (the configuration with the best seed mean of the validation metric), test reports (its seed mean of the
test metric where trials have one: :func:`vlpet.analysis.results.reported_column`), with the 95% t interval over
seeds. The leaderboard names the best method at each target and compares it with the runner-up, paired on their
shared seeds (:func:`vlpet.analysis.compare.paired`; Holm over the targets). Complete seed groups only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlpet.analysis.compare import configuration_keys, configuration_labels, holm, mean_interval, paired, verdict
from vlpet.analysis.results import finished, reported_column
from vlpet.budget_target import UNITS

CURVE_COLUMNS = ["method", "budget_target", "budget_unit", "achieved", "reported", "mean", "ci_low", "ci_high",
                 "seeds", "configurations", "label", "key"]
BOARD_COLUMNS = ["budget_target", "budget_unit", "methods", "best", "best_mean", "runner_up", "runner_up_mean",
                 "n", "diff", "ci_low", "ci_high", "p_value", "p_holm", "verdict", "note"]


def has_budgets(frame: pd.DataFrame) -> bool:
    """Whether the frame's trials carry budget targets."""
    return "budget_target" in frame and frame["budget_target"].notna().any()


def _budget_rows(frame: pd.DataFrame, metric: str, include_partial: bool) -> pd.DataFrame:
    rows = finished(frame, include_partial=include_partial) if not frame.empty else frame
    if not has_budgets(rows):
        return rows.iloc[0:0]
    rows = rows[rows["budget_target"].notna() & rows[metric].notna()].copy()
    rows["_key"], rows["_label"] = configuration_keys(rows), configuration_labels(rows)
    return rows


def budget_curves(frame: pd.DataFrame, metric: str = "metric", mode: str = "max", alpha: float = 0.05,
                  include_partial: bool = False) -> pd.DataFrame:
    """One row per (method, budget target): the configuration validation selects and its reported seed mean with
    the 1 − ``alpha`` interval over seeds, and ``achieved`` (the mean budget reached, in the target's unit)."""
    rows = _budget_rows(frame, metric, include_partial)
    reported = reported_column(frame, metric)
    out = []
    for (method, target), group in rows.groupby(["budget_arm", "budget_target"], sort=True):
        means = group.groupby("_key")[metric].mean()
        key = means.idxmax() if mode == "max" else means.idxmin()
        best = group[group["_key"] == key]
        unit = str(best["budget_unit"].iloc[0])
        values = best[reported].astype(float)
        low, high = mean_interval(values, alpha)
        out.append({"method": method, "budget_target": float(target), "budget_unit": unit,
                    "achieved": float(best[UNITS[unit]].mean()) if UNITS[unit] in best else np.nan,
                    "reported": reported, "mean": float(values.mean()), "ci_low": low, "ci_high": high,
                    "seeds": int(values.notna().sum()), "configurations": int(means.size),
                    "label": str(best["_label"].iloc[0]), "key": key})
    return pd.DataFrame(out, columns=CURVE_COLUMNS)


def budget_leaderboard(frame: pd.DataFrame, metric: str = "metric", mode: str = "max", test: str = "t",
                       alpha: float = 0.05, include_partial: bool = False) -> pd.DataFrame:
    """One row per budget target: the best method (by reported seed mean of its selected configuration), the
    runner-up, and their paired comparison over shared seeds (difference best − runner-up, its interval, p,
    Holm-adjusted p over the targets, verdict)."""
    curves = budget_curves(frame, metric, mode, alpha, include_partial)
    rows = _budget_rows(frame, metric, include_partial)
    out = []
    for target, group in curves.groupby("budget_target", sort=True):
        ranked = group.sort_values(["mean", "method"], ascending=[mode != "max", True], kind="stable")
        best = ranked.iloc[0]
        entry = {"budget_target": target, "budget_unit": best["budget_unit"], "methods": len(ranked),
                 "best": best["method"], "best_mean": best["mean"]}
        if len(ranked) > 1:
            second = ranked.iloc[1]
            entry.update(runner_up=second["method"], runner_up_mean=second["mean"],
                         **paired(_per_seed(rows, best["key"], best["reported"]),
                                  _per_seed(rows, second["key"], best["reported"]), test, alpha))
        else:
            entry["note"] = "one method reaches this target: no comparison"
        out.append(entry)
    board = pd.DataFrame(out, columns=BOARD_COLUMNS)
    if not board.empty:
        board["p_holm"] = holm(board["p_value"].to_numpy(float))
        board["verdict"] = [verdict(d, p, alpha, mode) if r == r else "" for d, p, r in
                            zip(board["diff"], board["p_holm"], board["runner_up"])]
    return board


def _per_seed(rows: pd.DataFrame, key: str, column: str) -> pd.Series:
    chosen = rows[rows["_key"] == key]
    return chosen.groupby("seed")[column].mean().astype(float)
