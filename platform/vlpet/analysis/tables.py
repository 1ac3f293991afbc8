"""Ablation tables in the paper's layout: a row per factor combination (e.g. method x granularity), columns per
task metric (mean ± std or a 95% interval over seeds, best bold, second best underlined, entries significantly
worse than the column's best or statistically tied with it marked), the trainable %, and the seed count."""

from __future__ import annotations

import math
import re

import pandas as pd

from vlpet.analysis.compare import compare, mean_interval, unit_labels
from vlpet.analysis.results import columns_exist, finished, reported_column
from vlpet.errors import ConfigError

TASK_METRIC = re.compile(r"^[a-z0-9]+_(acc|cider)(_[a-z_]+)?$|^cider$")
NOT_METRICS = ("vqa_label_acc",)
FORMATS = ("md", "latex", "csv", "json")
DERIVED = ("_mean", "_std", "_ci_low", "_ci_high", "_vs_best", "_p_holm")
MARKS = {"md": {"worse": " †", "tied": " ≈"}, "latex": {"worse": "^{\\dagger}", "tied": "^{\\approx}"}}
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test", "bootstrap": "paired sign-flip test"}


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


# Budget columns a table carries beside the metrics: the trainable share and the bytes the trained tensors take
# at their stored precision (adapter_bits).
TABLE_BUDGETS = ("trainable_pct", "adapter_bytes")


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


def _metric_names(table: pd.DataFrame) -> list[str]:
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def _factor_names(table: pd.DataFrame) -> list[str]:
    metrics = set(_metric_names(table))
    derived = {f"{m}{suffix}" for m in metrics for suffix in DERIVED}
    return [c for c in table.columns if not (c.endswith("_mean") or c.endswith("_std")) and c not in (*TABLE_BUDGETS, "n")
            and c[:-5] not in metrics and c not in derived]


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


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _spread(row: pd.Series, metric: str, style: str, digits: int) -> str:
    """`` [low, high]`` where the table has intervals, else `` ± std``; empty where there is neither."""
    low, high, std = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"), row.get(f"{metric}_std")
    if _present(low) and _present(high):
        interval = f"[{low:.{digits}f}, {high:.{digits}f}]"
        return f" {interval}" if style == "md" else f"_{{{interval}}}"
    if f"{metric}_ci_low" in row or not _present(std):
        return ""
    return f" ± {std:.{digits}f}" if style == "md" else f"_{{\\pm {std:.{digits}f}}}"


def _cell(row: pd.Series, metric: str, style: str, rank: int | None, digits: int) -> str:
    mean = row[f"{metric}_mean"]
    if not _present(mean):
        return "–" if style == "md" else "--"
    status = row.get(f"{metric}_vs_best")
    # Statistically tied with the best: marked as tied, not ranked second on a difference the seeds do not show.
    rank = None if status == "tied" and rank == 2 else rank
    spread, mark = _spread(row, metric, style, digits), MARKS[style].get(status, "")
    if style == "md":
        text = f"{mean:.{digits}f}{spread}"
        return (f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text) + mark
    value = f"\\mathbf{{{mean:.{digits}f}}}" if rank == 1 else f"{mean:.{digits}f}"
    text = "$" + value + spread + mark + "$"
    return f"\\underline{{{text}}}" if rank == 2 else text


def _legend(table: pd.DataFrame, metrics: list[str]) -> str:
    """What the marks and intervals mean, for the tables that show any (empty otherwise)."""
    parts = []
    statuses = {v for m in metrics for v in table.get(f"{m}_vs_best", pd.Series(dtype=object))}
    if statuses & {"worse", "tied"}:
        significance = table.attrs.get("significance", {})
        test, alpha = TEST_NAMES.get(significance.get("test"), "paired test"), significance.get("alpha", 0.05)
        parts.append(f"† significantly worse than the column's best, ≈ statistically tied with it ({test} over "
                     f"shared seeds, Holm-corrected, p < {alpha:g}); unmarked entries with fewer than two seeds "
                     "shared with the best are not tested")
    if any(f"{m}_ci_low" in table for m in metrics):
        parts.append(f"[low, high]: {table.attrs.get('ci', 0.95):.0%} t interval of the mean over seeds")
    return "; ".join(parts) + ("." if parts else "")


def _mark(text: str, fmt: str, rank: int | None) -> str:
    if fmt == "md":
        return f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
    return f"\\textbf{{{text}}}" if rank == 1 else f"\\underline{{{text}}}" if rank == 2 else text


def _factor_text(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–" if fmt == "md" else "--"
    return md_text(str(value)) if fmt == "md" else str(value)


_MD_SPECIAL = {"|": r"\|", "<": "&lt;", ">": "&gt;", "&": "&amp;", "\\": "\\\\", "*": r"\*", "`": r"\`"}


def md_text(text: str) -> str:
    """A label as literal Markdown text: no cell split by ``|``, no HTML tag, emphasis or code span from it."""
    return "".join(_MD_SPECIAL.get(char, char) for char in text)


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
    with_bytes = "adapter_bytes" in table and table["adapter_bytes"].notna().any()
    byte_ranks = _ranks(table["adapter_bytes"].astype(float), "min") if with_bytes else {}
    header = [*factors, *[("avg" if m == "metric" else m) for m in metrics], "trainable %",
              *(["adapter KB"] if with_bytes else []), "n"]
    body = []
    for position, (_, row) in enumerate(table.iterrows()):
        cells = [_factor_text(row[f], fmt) for f in factors]
        cells += [_cell(row, m, fmt, ranks[m].get(position), digits) for m in metrics]
        pct = row.get("trainable_pct")
        cells.append(_mark(f"{pct:.2f}", fmt, pct_ranks.get(position)) if pct == pct and pct is not None
                     else _factor_text(None, fmt))
        if with_bytes:         # the stored size of what the trial trains, at its adapter_bits precision
            size = row.get("adapter_bytes")
            cells.append(_mark(f"{size / 1024:,.1f}", fmt, byte_ranks.get(position)) if size == size and size is not None
                         else _factor_text(None, fmt))
        cells.append(str(int(row["n"])))
        body.append(cells)
    legend = _legend(table, metrics)
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body] + (["", legend] if legend else [])
        return "\n".join(lines) + "\n"
    return _latex(header, body, len(factors), caption, legend)


def _latex(header: list[str], body: list[list[str]], factors: int, caption: str | None, legend: str) -> str:
    columns = "l" * factors + "r" * (len(header) - factors)
    lines = ["\\begin{table}[t]", "\\centering"]
    if caption:
        lines.append(f"\\caption{{{_latex_escape(caption)}}}")
    lines += [f"\\begin{{tabular}}{{{columns}}}", "\\toprule", " & ".join(_latex_escape(h) for h in header) + " \\\\",
              "\\midrule"]
    lines += [" & ".join(_latex_escape(c) if i < factors else c.replace("%", "\\%") for i, c in enumerate(cells))
              + " \\\\" for cells in body]
    lines += ["\\bottomrule", "\\end{tabular}"]
    if legend:
        text = _latex_escape(legend).replace("<", "$<$")
        text = text.replace("†", "$^{\\dagger}$").replace("≈", "$^{\\approx}$")
        lines.append(f"\\par\\smallskip\\footnotesize {text}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"
