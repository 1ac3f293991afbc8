"""Which trials an export takes from a study's results frame: ``--best``, ``--trial``, ``--config``,
``--frontier K``, each configuration represented by one seed (``--seed``, else its best on validation).
Validation selects: the choice reads the validation metric, never the test split."""

from __future__ import annotations

import pandas as pd

from vlpet.errors import ConfigError

SELECTED_BY = "metric"   # the validation primary metric


def choose(frame: pd.DataFrame, objectives: dict[str, str], best: bool = False, trial: str | None = None,
           config: str | None = None, frontier: int | None = None, seed: int | None = None) -> list[pd.Series]:
    """The trial rows to export (one per chosen configuration); ConfigError naming what is missing."""
    from vlpet.analysis.results import finished

    if trial is not None:
        rows = frame[frame["trial_id"].astype(str) == trial]
        if rows.empty:
            raise ConfigError(f"--trial {trial}: no such trial in the study (known: {_some(frame['trial_id'])})")
        return [rows.iloc[0]]
    done = finished(frame, include_partial=True)
    if done.empty or SELECTED_BY not in done or done[SELECTED_BY].notna().sum() == 0:
        raise ConfigError("the study has no finished trial with a validation metric yet: nothing to export")
    if config is not None:
        return [_seed_of(done, _config_key(done, config), seed)]
    if frontier is not None:
        return [_seed_of(done, key, seed) for key in _frontier_keys(done, objectives, frontier)]
    means = done.groupby("config_key")[SELECTED_BY].mean().sort_values(ascending=False, kind="stable")
    return [_seed_of(done, means.index[0], seed)]


def _some(values: pd.Series) -> str:
    shown = sorted(map(str, values.dropna().unique()))
    return ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")


def _config_key(done: pd.DataFrame, wanted: str) -> str:
    from vlpet.analysis.compare import configuration_labels

    labels = configuration_labels(done)
    for key, label in zip(done["config_key"].astype(str), labels):
        if wanted in (key, label):
            return key
    raise ConfigError(f"--config {wanted}: not a finished configuration of the study (labels: "
                      f"{_some(labels)}; or a config_key: {_some(done['config_key'])})")


def _seed_of(done: pd.DataFrame, key: str, seed: int | None) -> pd.Series:
    rows = done[done["config_key"].astype(str) == str(key)]
    if seed is not None:
        picked = rows[rows["seed"] == seed]
        if picked.empty:
            raise ConfigError(f"--seed {seed}: configuration {key} has no finished trial with that seed (seeds: "
                              f"{_some(rows['seed'])})")
        return picked.iloc[0]
    return rows.sort_values([SELECTED_BY, "trial_id"], ascending=[False, True], kind="stable").iloc[0]


def _frontier_keys(done: pd.DataFrame, objectives: dict[str, str], count: int) -> list[str]:
    """The config keys of the validation Pareto front, best primary metric first, at most ``count``."""
    from vlpet.analysis.pareto import pareto_front

    if count < 1:
        raise ConfigError(f"--frontier must be a positive count, got {count}")
    usable = {c: d for c, d in objectives.items() if c in done}
    front = pareto_front(done, usable or {SELECTED_BY: "max"}, include_unfinished=True)
    front = front.sort_values(SELECTED_BY, ascending=False, kind="stable") if SELECTED_BY in front else front
    return [str(key) for key in front["config_key"].head(count)]
