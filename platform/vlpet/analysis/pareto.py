"""Efficiency-vs-accuracy Pareto frontiers and hypervolume, with moocore's non-dominated filter and hypervolume."""

from __future__ import annotations

import moocore
import numpy as np
import pandas as pd

from vlpet.analysis.results import DEFAULT_OBJECTIVES, columns_exist, finished
from vlpet.errors import ConfigError

DESCRIPTIVE = ("study", "arm", "setting", "method", "granularity", "bottleneck", "gate_bottleneck", "heads", "placement", "lr",
               "backbone", "sampled", "metric_name")


def _check(objectives: dict[str, str]) -> dict[str, str]:
    bad = {k: v for k, v in objectives.items() if v not in ("max", "min")}
    if not objectives or bad:
        raise ConfigError(f"objectives: expected column: max|min pairs, got {objectives}")
    return objectives


def by_configuration(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Seed-averaged configurations: the mean of ``columns`` plus ``<col>_std`` and the seed count ``n``."""
    keys = ["study", "config_key"] if "study" in frame else ["config_key"]
    groups = frame.groupby(keys, sort=False, dropna=False)
    out = groups[columns].mean()
    stds = groups[columns].std(ddof=1).add_suffix("_std")
    first = groups[[c for c in DESCRIPTIVE if c in frame.columns and c not in keys]].first()
    counts = groups.size().rename("n")
    return pd.concat([first, out, stds, counts], axis=1).reset_index()


def _losses(frame: pd.DataFrame, objectives: dict[str, str]) -> np.ndarray:
    """(rows, objectives) values to minimise: a maximised column is negated."""
    return np.column_stack([-frame[c].to_numpy(float) if d == "max" else frame[c].to_numpy(float)
                            for c, d in objectives.items()])


def pareto_front(frame: pd.DataFrame, objectives: dict[str, str] | None = None, by_config: bool = True,
                 include_unfinished: bool = False) -> pd.DataFrame:
    """The non-dominated rows for ``objectives`` (column -> max|min), over seed-averaged configurations
    (``by_config``) or single trials; ties are all kept. Sorted by the first objective."""
    objectives = _check(dict(objectives or DEFAULT_OBJECTIVES))
    if frame.empty:
        return frame.copy()                     # a study with no trial yet has no columns to check
    columns_exist(frame, objectives, "objective")
    rows = finished(frame, include_unfinished)
    if by_config and not rows.empty:
        rows = by_configuration(rows, list(objectives))
    rows = rows.dropna(subset=list(objectives))
    if rows.empty:
        return rows.copy()
    # keep_weakly: duplicates of a frontier point (ties) all stay on the frontier.
    mask = moocore.is_nondominated(_losses(rows, objectives), keep_weakly=True)
    first, direction = next(iter(objectives.items()))
    return rows[mask].sort_values(first, ascending=direction == "min").reset_index(drop=True)


def hypervolume(frame: pd.DataFrame, objectives: dict[str, str] | None, reference_point: dict[str, float],
                by_config: bool = True, include_unfinished: bool = False) -> float:
    """The hypervolume the frontier dominates up to ``reference_point`` (one value per objective column; it
    must be worse than every frontier point, e.g. metric 0 and trainable_pct 100)."""
    objectives = _check(dict(objectives or DEFAULT_OBJECTIVES))
    missing = [c for c in objectives if c not in reference_point]
    if missing:
        raise ConfigError(f"reference_point: missing a value for {missing}")
    front = pareto_front(frame, objectives, by_config, include_unfinished)
    if front.empty:
        return 0.0
    reference = np.array([-reference_point[c] if d == "max" else reference_point[c] for c, d in objectives.items()])
    losses = _losses(front, objectives)
    if (losses >= reference).any(axis=1).any():
        raise ConfigError(f"reference_point {reference_point} must be worse than every frontier point")
    return float(moocore.hypervolume(losses, ref=reference))
