"""How sure a Pareto frontier is: each frontier point against every configuration it dominates, paired over their
shared seeds (:func:`vlpet.analysis.compare`'s tests), so a reader sees which points are significantly better than
what they dominate and which are statistically tied with a dominated point."""

from __future__ import annotations

import pandas as pd

from vlpet.analysis.compare import (COLUMNS as PAIR_COLUMNS, configuration_keys, configuration_labels, holm, paired,
                                    seed_values, verdict)
from vlpet.analysis.pareto import by_configuration, pareto_front
from vlpet.analysis.results import BUDGET_KEYS, DEFAULT_OBJECTIVES, finished

COLUMNS = ["front", "dominated", "metric", "n", "mean_front", "mean_dominated", *PAIR_COLUMNS[5:], "front_key",
           "dominated_key"]


def dominance(frame: pd.DataFrame, objectives: dict[str, str] | None = None, test: str = "t", alpha: float = 0.05,
              include_unfinished: bool = False) -> pd.DataFrame:
    """One row per (frontier configuration, configuration it dominates on the seed means, tested objective):
    ``front``, ``dominated`` (labels), ``metric``, ``n`` (shared seeds), ``mean_front``, ``mean_dominated``,
    ``diff`` (front − dominated), ``ci_low``, ``ci_high``, ``p_value``, ``p_holm`` (Holm over every row),
    ``verdict`` (the front point is ``better``/``worse``, ``tied`` or ``no test``), ``note``, and the two
    configuration keys (:func:`vlpet.analysis.compare.configuration_keys`).

    Tested objectives are every objective but the parameter budget (``trainable_pct`` and its kin are computed,
    the same for every seed: nothing to test)."""
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    tested = [c for c in objectives if c not in BUDGET_KEYS and c in frame]
    front = pareto_front(frame, objectives, True, include_unfinished)
    if front.empty or not tested:
        return pd.DataFrame(columns=COLUMNS)
    rows = finished(frame, include_unfinished)
    # Unfinished trials asked for count as final where they stopped: compare itself keeps finished rows only.
    rows = rows.assign(finished=True) if include_unfinished else rows
    points = by_configuration(rows, list(objectives)).dropna(subset=list(objectives))
    points.index = configuration_keys(points)
    labels = dict(zip(configuration_keys(rows), configuration_labels(rows)))
    pairs = _dominated_pairs(points, list(configuration_keys(front)), objectives)
    records = []
    for metric in tested:
        values, _ = seed_values(rows, metric)
        for top, below in pairs:
            record = paired(values[top], values[below], test, alpha)
            records.append({"front": labels[top], "dominated": labels[below], "metric": metric,
                            "mean_front": record.pop("mean_a"), "mean_dominated": record.pop("mean_b"), **record,
                            "front_key": top, "dominated_key": below})
    result = pd.DataFrame(records, columns=COLUMNS)
    result["p_holm"] = holm(result["p_value"].to_numpy(float))
    result["verdict"] = [verdict(d, p, alpha, objectives[m])
                         for d, p, m in zip(result["diff"], result["p_holm"], result["metric"])]
    return result


def _dominated_pairs(points: pd.DataFrame, front: list[str], objectives: dict[str, str]) -> list[tuple[str, str]]:
    """(frontier key, key of a configuration it dominates): at least as good on every objective's seed mean and
    better on one."""
    losses = pd.DataFrame({c: -points[c] if d == "max" else points[c] for c, d in objectives.items()})
    pairs = []
    for top in front:
        at_least = (losses.loc[top].to_numpy() <= losses.to_numpy()).all(axis=1)
        better = (losses.loc[top].to_numpy() < losses.to_numpy()).any(axis=1)
        pairs += [(top, key) for key in losses.index[at_least & better] if key not in front]
    return pairs


def pair_verdicts(result: pd.DataFrame) -> pd.DataFrame:
    """One row per (front_key, dominated_key) of a :func:`dominance` result with its ``verdict`` over the tested
    objectives: ``better`` (significantly better on one, worse on none), ``tied`` (no significant difference),
    ``mixed`` (better on one, worse on another) or ``no test``."""
    def combine(verdicts: pd.Series) -> str:
        seen = set(verdicts) - {"no test"}
        if not seen:
            return "no test"
        if "better" in seen:
            return "mixed" if "worse" in seen else "better"
        return "worse" if "worse" in seen else "tied"

    grouped = result.groupby(["front_key", "dominated_key"], sort=False)["verdict"].agg(combine)
    return grouped.rename("verdict").reset_index()


def front_verdicts(result: pd.DataFrame) -> dict[str, str]:
    """Per frontier key that dominates something: ``better`` when significantly better than every tested point it
    dominates, ``tied`` when statistically tied with (or not better than) at least one, else ``no test``."""
    summary = {}
    for key, group in pair_verdicts(result).groupby("front_key", sort=False):
        tested = set(group["verdict"]) - {"no test"}
        summary[key] = "no test" if not tested else "better" if tested == {"better"} else "tied"
    return summary

