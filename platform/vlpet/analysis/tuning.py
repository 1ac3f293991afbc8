"""Tuning curves: did a method win because it was tuned more? Pure functions of the results frame.

For each arm (or method, ``budget_arm``, in a study with budgets), its trials in the order they ended: the compute
spent so far (``cpu_hours`` and ``gpu_hours`` of every trial, stopped and failed ones included) against the best
seed mean of the validation metric among its configurations whose every seed had finished by then (what the
search had found). Two arms tuned with equal effort reach their plateaus at similar compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlpet.analysis.compare import configuration_keys
from vlpet.analysis.results import finished

COLUMNS = ["unit", "trials", "cpu_hours", "gpu_hours", "configurations", "best"]


def tuning_unit(frame: pd.DataFrame) -> str:
    """The column the curves are drawn per: the method before sizing in a budget study, else the arm."""
    if "budget_arm" in frame and frame["budget_arm"].notna().any():
        return "budget_arm"
    return "arm"


def tuning_curves(frame: pd.DataFrame, metric: str = "metric", mode: str = "max") -> pd.DataFrame:
    """One row per ended trial of each unit: ``trials`` ended so far, cumulative ``cpu_hours``/``gpu_hours``,
    ``configurations`` complete so far and the ``best`` seed mean among them (NaN before the first)."""
    if frame.empty or "cpu_hours" not in frame or metric not in frame:
        return pd.DataFrame(columns=COLUMNS)
    unit = tuning_unit(frame)
    rows = frame[frame["cpu_hours"].notna()].assign(unit_key=configuration_keys(frame))
    done = finished(frame)
    means = {} if done.empty else done.assign(unit_key=configuration_keys(done)).groupby("unit_key")[metric].mean()
    out = []
    for name, group in rows.groupby(unit, sort=True):
        left = group["unit_key"].value_counts().to_dict()
        spent = np.zeros(2)
        best, complete = np.nan, 0
        for count, row in enumerate(group.sort_values("ended", kind="stable").itertuples(), start=1):
            spent += [row.cpu_hours or 0.0, getattr(row, "gpu_hours", 0.0) or 0.0]
            left[row.unit_key] -= 1
            if left[row.unit_key] == 0 and row.unit_key in means:
                complete += 1
                value = means[row.unit_key]
                best = value if np.isnan(best) else (max(best, value) if mode == "max" else min(best, value))
            out.append({"unit": name, "trials": count, "cpu_hours": spent[0], "gpu_hours": spent[1],
                        "configurations": complete, "best": best})
    return pd.DataFrame(out, columns=COLUMNS)
