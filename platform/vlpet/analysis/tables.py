"""Ablation tables in the paper's layout: a row per factor combination (e.g. method x granularity), columns per
task metric (mean ± std or a 95% interval over seeds, best bold, second best underlined, entries significantly
worse than the column's best or statistically tied with it marked), the trainable %, and the seed count. Rendered as
Markdown, LaTeX or the report page's HTML by :mod:`vlpet.analysis.rendering`."""

from __future__ import annotations

import math
import re

import pandas as pd

from vlpet.analysis.compare import compare, mean_interval, unit_labels
# The rendering (one ranking and sort order for Markdown, LaTeX and the report page) lives in rendering.py.
from vlpet.analysis.rendering import TABLE_BUDGETS, md_text, render_table  # noqa: F401
from vlpet.analysis.results import columns_exist, finished, reported_column
from vlpet.errors import ConfigError

TASK_METRIC = re.compile(r"^[a-z0-9]+_(acc|cider)(_[a-z_]+)?$|^cider$")
NOT_METRICS = ("vqa_label_acc",)


def task_metrics(frame: pd.DataFrame) -> list[str]:
    """The per-task metric columns present, main tasks first, and ``metric`` as the average of several tasks; each
    one's held-out test column (``test_vqa_acc``, ...) where the trials were tested."""
    found = [c for c in frame.columns if TASK_METRIC.match(str(c)) and c not in NOT_METRICS and not c.endswith("_best")]
    main = [c for c in main_task_metrics() if c in found]
    ordered = main + [c for c in found if c not in main]
    if len(main) > 1 and "metric" in frame.columns:
        ordered.append("metric")
    ordered = ordered or (["metric"] if "metric" in frame.columns else [])
    return [reported_column(frame, column) for column in ordered]  # test numbers where the trials have them


def main_task_metrics() -> list[str]:
    """Each task's primary metric key, in the order of the task records (the paper's table order)."""
    from vlpet.data.registry import TASKS

    return list(dict.fromkeys(spec.metric for spec in TASKS.values()))


def ablation_table(frame: pd.DataFrame, by: list[str] | None = None, metrics: list[str] | None = None,
                   include_unfinished: bool = False, ci: bool = False, test: str | None = "t", alpha: float = 0.05,
                   directions: dict[str, str] | None = None, include_partial: bool = False) -> pd.DataFrame:
    """Seeds aggregated per combination of ``by``: ``<m>_mean``, ``<m>_std`` for each metric, ``trainable_pct``,
    ``adapter_bytes`` (where the trials report it) and ``n`` (seeds). Default ``by``: the arm and every searched key that varies. Configurations that did not
    finish all the study's seeds (``complete_group`` false: a seed failed, a time budget ran out) are left out
    unless ``include_partial``.

    ``ci`` adds ``<m>_ci_low``/``<m>_ci_high``, the 1 − ``alpha`` t interval of the mean over seeds. With a
    ``test`` (see :func:`vlpet.analysis.compare`; None for none) and frames that have ``config_key`` and
    ``seed``, each row is compared with its column's best (``directions``: metric -> max|min, default max) over
    their shared seeds: ``<m>_vs_best`` is ``best``, ``worse`` or ``better`` (Holm-corrected p < ``alpha``),
    ``tied``, or ``no test`` (fewer than two shared seeds), and ``<m>_p_holm`` its corrected p-value."""
    rows = finished(frame, include_unfinished, include_partial)
    if rows.empty:
        raise ConfigError("no finished trials to tabulate yet" + ("" if include_unfinished else
                                                                  " (include_unfinished counts the others, "
                                                                  "include_partial configurations missing seeds)"))
    by = list(by or default_factors(rows))
    metrics = list(metrics or task_metrics(rows))
    columns_exist(rows, by, "factor")
    columns_exist(rows, metrics, "metric")
    groups = rows.groupby(by, sort=False, dropna=False)
    out = pd.DataFrame(index=groups.size().index)
    for metric in metrics:
        out[f"{metric}_mean"] = groups[metric].mean()
        out[f"{metric}_std"] = groups[metric].std(ddof=1)
    for budget in TABLE_BUDGETS:          # the same for every seed: their mean is the value
        if budget in rows and rows[budget].notna().any():
            out[budget] = groups[budget].mean()
    out["n"] = groups.size()
    out = out.reset_index()
    if ci:
        out = _with_intervals(out, groups, metrics, alpha)
    if test and {"config_key", "seed"} <= set(rows.columns):
        # compare counts finished rows of complete groups only; the others asked for count here as they stand.
        tested = rows.assign(finished=True) if include_unfinished else rows
        tested = tested.assign(complete_group=True) if include_partial or include_unfinished else tested
        out = _with_significance(out, tested, by, metrics, test, alpha, directions or {})
    return out


def _with_intervals(out: pd.DataFrame, groups, metrics: list[str], alpha: float) -> pd.DataFrame:
    for metric in metrics:
        intervals = [mean_interval(values, alpha) for _, values in groups[metric]]
        out[f"{metric}_ci_low"] = [low for low, _ in intervals]
        out[f"{metric}_ci_high"] = [high for _, high in intervals]
    out.attrs["ci"] = 1 - alpha
    return out


def _with_significance(out: pd.DataFrame, rows: pd.DataFrame, by: list[str], metrics: list[str], test: str,
                       alpha: float, directions: dict[str, str]) -> pd.DataFrame:
    """Each row against its column's best, one compare (and one Holm family) per metric column."""
    labels = unit_labels(out, by)
    for metric in metrics:
        status: dict[str, tuple[str, float]] = {}
        if rows[metric].notna().any():
            result = compare(rows, metric, test=test, alpha=alpha, mode=directions.get(metric, "max"), by=by)
            status = {a: (v, p) for a, v, p in zip(result["a"], result["verdict"], result["p_holm"])}
            if status:          # one row alone has nothing to be the best of
                status[result["b"].iloc[0]] = ("best", math.nan)
        out[f"{metric}_vs_best"] = [status.get(label, ("", math.nan))[0] for label in labels]
        out[f"{metric}_p_holm"] = [status.get(label, ("", math.nan))[1] for label in labels]
    out.attrs["significance"] = {"test": test, "alpha": alpha}
    return out


def default_factors(frame: pd.DataFrame) -> list[str]:
    """The study (when several), the arm, and the searched setting (each searched key's value), where they vary."""
    varying = [c for c in ("study", "arm", "setting") if c in frame and frame[c].astype(str).nunique() > 1]
    return varying or ["arm"]
