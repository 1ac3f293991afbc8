"""Ablation tables in the paper's layout: a row per factor combination (e.g. method x granularity), columns per
task metric (mean ± std over seeds, best bold, second best underlined), the trainable %, and the seed count."""

from __future__ import annotations

import math
import re

import pandas as pd

from vlpet.analysis.results import columns_exist, finished
from vlpet.errors import ConfigError

MAIN_TASK_METRICS = ("vqa_acc", "gqa_acc", "nlvr_acc", "cider", "tvqa_acc", "how2qa_acc", "tvc_cider", "yc2c_cider")
TASK_METRIC = re.compile(r"^[a-z0-9]+_(acc|cider)(_[a-z_]+)?$|^cider$")
NOT_METRICS = ("vqa_label_acc",)
FORMATS = ("md", "latex", "csv", "json")


def task_metrics(frame: pd.DataFrame) -> list[str]:
    """The per-task metric columns present, main tasks first, and ``metric`` as the average of several tasks."""
    found = [c for c in frame.columns if TASK_METRIC.match(str(c)) and c not in NOT_METRICS and not c.endswith("_best")]
    main = [c for c in MAIN_TASK_METRICS if c in found]
    ordered = main + [c for c in found if c not in main]
    if len(main) > 1 and "metric" in frame.columns:
        ordered.append("metric")
    return ordered or (["metric"] if "metric" in frame.columns else [])


def ablation_table(frame: pd.DataFrame, by: list[str] | None = None, metrics: list[str] | None = None,
                   include_unfinished: bool = False) -> pd.DataFrame:
    """Seeds aggregated per combination of ``by``: ``<m>_mean``, ``<m>_std`` for each metric, ``trainable_pct``
    and ``n`` (seeds). Default ``by``: the arm and every searched key that varies."""
    rows = finished(frame, include_unfinished)
    if rows.empty:
        raise ConfigError("no finished trials to tabulate yet" + ("" if include_unfinished else
                                                                  " (include_unfinished counts the others)"))
    by = list(by or default_factors(rows))
    metrics = list(metrics or task_metrics(rows))
    columns_exist(rows, by, "factor")
    columns_exist(rows, metrics, "metric")
    groups = rows.groupby(by, sort=False, dropna=False)
    out = pd.DataFrame(index=groups.size().index)
    for metric in metrics:
        out[f"{metric}_mean"] = groups[metric].mean()
        out[f"{metric}_std"] = groups[metric].std(ddof=1)
    if "trainable_pct" in rows:
        out["trainable_pct"] = groups["trainable_pct"].mean()
    out["n"] = groups.size()
    return out.reset_index()


def default_factors(frame: pd.DataFrame) -> list[str]:
    """The study (when several), the arm, and the searched setting (each searched key's value), where they vary."""
    varying = [c for c in ("study", "arm", "setting") if c in frame and frame[c].astype(str).nunique() > 1]
    return varying or ["arm"]


def _metric_names(table: pd.DataFrame) -> list[str]:
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def _factor_names(table: pd.DataFrame) -> list[str]:
    metrics = set(_metric_names(table))
    return [c for c in table.columns if not (c.endswith("_mean") or c.endswith("_std")) and c not in ("trainable_pct", "n")
            and c[:-5] not in metrics]


def _ranks(values: pd.Series, direction: str = "max") -> dict[int, int]:
    """Position -> 1 (best) or 2 (second best) by value in ``direction`` (max|min); ties share the rank.
    A column with fewer than two values has nothing to compare and is not marked."""
    distinct = sorted({round(v, 6) for v in values if isinstance(v, float) and not math.isnan(v)},
                      reverse=direction == "max")
    if values.notna().sum() < 2:
        return {}
    ranks = {}
    for position, value in enumerate(values):
        if isinstance(value, float) and not math.isnan(value) and round(value, 6) in distinct[:2]:
            ranks[position] = distinct.index(round(value, 6)) + 1
    return ranks


def _cell(mean: float, std: float, style: str, rank: int | None, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–" if style == "md" else "--"
    has_std = std is not None and not (isinstance(std, float) and math.isnan(std))
    if style == "md":
        text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if has_std else "")
        return f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
    value = f"\\mathbf{{{mean:.{digits}f}}}" if rank == 1 else f"{mean:.{digits}f}"
    text = "$" + value + (f"_{{\\pm {std:.{digits}f}}}" if has_std else "") + "$"
    return f"\\underline{{{text}}}" if rank == 2 else text


def _mark(text: str, fmt: str, rank: int | None) -> str:
    if fmt == "md":
        return f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
    return f"\\textbf{{{text}}}" if rank == 1 else f"\\underline{{{text}}}" if rank == 2 else text


def _factor_text(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–" if fmt == "md" else "--"
    return str(value)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def render_table(table: pd.DataFrame, fmt: str = "md", digits: int = 2, caption: str | None = None,
                 directions: dict[str, str] | None = None) -> str:
    """Markdown, LaTeX (booktabs), CSV or JSON text of an :func:`ablation_table`. Per column the best value is
    bold and the second best underlined, in the column's direction: ``directions`` maps a metric to max|min
    (default max: task metrics are higher-is-better); the trainable % is lower-is-better."""
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r} is not allowed; allowed: {', '.join(FORMATS)}")
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=1)
    factors, metrics = _factor_names(table), _metric_names(table)
    directions = directions or {}
    ranks = {m: _ranks(table[f"{m}_mean"].astype(float), directions.get(m, "max")) for m in metrics}
    pct_ranks = _ranks(table["trainable_pct"].astype(float), "min") if "trainable_pct" in table else {}
    header = [*factors, *[("avg" if m == "metric" else m) for m in metrics], "trainable %", "n"]
    body = []
    for position, (_, row) in enumerate(table.iterrows()):
        cells = [_factor_text(row[f], fmt) for f in factors]
        cells += [_cell(row[f"{m}_mean"], row[f"{m}_std"], fmt, ranks[m].get(position), digits) for m in metrics]
        pct = row.get("trainable_pct")
        cells += [_mark(f"{pct:.2f}", fmt, pct_ranks.get(position)) if pct == pct and pct is not None
                  else _factor_text(None, fmt), str(int(row["n"]))]
        body.append(cells)
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body]) + "\n"
    columns = "l" * len(factors) + "r" * (len(header) - len(factors))
    lines = ["\\begin{table}[t]", "\\centering"]
    if caption:
        lines.append(f"\\caption{{{_latex_escape(caption)}}}")
    lines += [f"\\begin{{tabular}}{{{columns}}}", "\\toprule", " & ".join(_latex_escape(h) for h in header) + " \\\\",
              "\\midrule"]
    lines += [" & ".join(_latex_escape(c) if i < len(factors) else c.replace("%", "\\%") for i, c in enumerate(cells))
              + " \\\\" for cells in body]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"
