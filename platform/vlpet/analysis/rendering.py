"""An :func:`vlpet.analysis.tables.ablation_table` as cells (one ranking, one sort order, one number format) and
those cells as Markdown, LaTeX or HTML: a tie is bold (or underlined) in every format alike.

Rows are sorted by the primary metric (``metric`` where the table has it, else its first metric), best first.
Ranks are decided on the numbers as shown: two entries that both print as 12.39 share their mark."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from vlpet.analysis.formatting import number, setting_labels
from vlpet.errors import ConfigError

FORMATS = ("md", "latex", "csv", "json")
DERIVED = ("_mean", "_std", "_ci_low", "_ci_high", "_vs_best", "_p_holm")
MARKS = {"md": {"worse": " †", "tied": " ≈"}, "latex": {"worse": "^{\\dagger}", "tied": "^{\\approx}"},
         "html": {"worse": "†", "tied": "≈"}}
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test", "bootstrap": "paired sign-flip test"}
# Budget columns a table carries beside the metrics: the trainable share and the bytes the trained tensors take
# at their stored precision (adapter_bits).
TABLE_BUDGETS = ("trainable_pct", "adapter_bytes")
LABEL_COLUMNS = ("setting", "sampled")


@dataclass(frozen=True)
class Cell:
    """One table entry: ``text`` as shown (no markup), ``kind`` factor|metric|number, ``rank`` 1 (bold) or 2
    (underlined), the metric's spread (``std`` or ``interval``, formatted), its significance ``mark``
    (worse|tied) and ``value``, what the page sorts the column by."""

    text: str
    kind: str = "number"
    rank: int | None = None
    std: str | None = None
    interval: tuple[str, str] | None = None
    mark: str = ""
    value: float | str | None = None


def metric_names(table: pd.DataFrame) -> list[str]:
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def factor_names(table: pd.DataFrame) -> list[str]:
    metrics = set(metric_names(table))
    derived = {f"{m}{suffix}" for m in metrics for suffix in DERIVED}
    return [c for c in table.columns if not (c.endswith("_mean") or c.endswith("_std")) and c not in (*TABLE_BUDGETS, "n")
            and c[:-5] not in metrics and c not in derived]


def primary_metric(table: pd.DataFrame) -> str | None:
    """The metric rows are sorted by: the average ``metric`` (or its test column) where present, else the first."""
    metrics = metric_names(table)
    return next((m for m in ("test_metric", "metric") if m in metrics), metrics[0] if metrics else None)


def sort_rows(table: pd.DataFrame, directions: dict[str, str] | None = None) -> pd.DataFrame:
    """The table's rows best first by the primary metric (missing last; equal values keep their order)."""
    primary = primary_metric(table)
    if primary is None or table.empty:
        return table
    ascending = (directions or {}).get(primary, "max") == "min"
    return table.sort_values(f"{primary}_mean", ascending=ascending, na_position="last", kind="stable")


def ranks(values: pd.Series, direction: str = "max", digits: int = 2, scale: float = 1.0) -> dict[int, int]:
    """Position -> 1 (best) or 2 (second best) by value in ``direction`` (max|min), compared as shown (``value /
    scale`` to ``digits`` decimals), so that equal-looking entries share their rank. A column with fewer than two
    values has nothing to compare and is not marked."""
    shown = [round(v / scale, digits) if isinstance(v, float) and not math.isnan(v) else None for v in values]
    if sum(v is not None for v in shown) < 2:
        return {}
    distinct = sorted({v for v in shown if v is not None}, reverse=direction == "max")[:2]
    return {position: distinct.index(v) + 1 for position, v in enumerate(shown) if v in distinct}


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _metric_cell(row: pd.Series, metric: str, rank: int | None, digits: int) -> Cell:
    mean = row[f"{metric}_mean"]
    if not _present(mean):
        return Cell("–", "metric")
    status = row.get(f"{metric}_vs_best")
    # Statistically tied with the best: marked as tied, not ranked second on a difference the seeds do not show.
    rank = None if status == "tied" and rank == 2 else rank
    low, high, std = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"), row.get(f"{metric}_std")
    interval = (f"{low:.{digits}f}", f"{high:.{digits}f}") if _present(low) and _present(high) else None
    std_text = f"{std:.{digits}f}" if _present(std) and f"{metric}_ci_low" not in row else None
    return Cell(f"{mean:.{digits}f}", "metric", rank, std_text, interval, status if status in ("worse", "tied") else "",
                float(mean))


def _number_cell(value, text: str, rank: int | None) -> Cell:
    return Cell(text, "number", rank, value=float(value)) if _present(value) else Cell("–", "number")


def table_cells(table: pd.DataFrame, digits: int = 2, directions: dict[str, str] | None = None
                ) -> tuple[list[str], list[list[Cell]]]:
    """The header and the rows of cells of an ablation table, rows sorted best first (:func:`sort_rows`)."""
    directions = directions or {}
    table = sort_rows(table, directions).reset_index(drop=True)
    factors, metrics = factor_names(table), metric_names(table)
    metric_ranks = {m: ranks(table[f"{m}_mean"].astype(float), directions.get(m, "max"), digits) for m in metrics}
    pct_ranks = ranks(table["trainable_pct"].astype(float), "min", 2) if "trainable_pct" in table else {}
    with_bytes = "adapter_bytes" in table and table["adapter_bytes"].notna().any()
    byte_ranks = ranks(table["adapter_bytes"].astype(float), "min", 1, 1024) if with_bytes else {}
    labels = {f: setting_labels(list(table[f])) if f in LABEL_COLUMNS else [number(v, f) for v in table[f]]
              for f in factors}
    header = [*factors, *[("avg" if m == "metric" else m) for m in metrics], "trainable %",
              *(["adapter KB"] if with_bytes else []), "n"]
    rows = []
    for position, row in table.iterrows():
        cells = [Cell(labels[f][position], "factor", value=labels[f][position]) for f in factors]
        cells += [_metric_cell(row, m, metric_ranks[m].get(position), digits) for m in metrics]
        pct = row.get("trainable_pct")
        cells.append(_number_cell(pct, number(pct, "trainable_pct"), pct_ranks.get(position)))
        if with_bytes:         # the stored size of what the trial trains, at its adapter_bits precision
            size = row.get("adapter_bytes")
            cells.append(_number_cell(size, f"{size / 1024:,.1f}" if _present(size) else "–", byte_ranks.get(position)))
        cells.append(Cell(str(int(row["n"])), "number", value=float(row["n"])))
        rows.append(cells)
    return header, rows


def legend(table: pd.DataFrame) -> str:
    """What the marks and intervals mean, for the tables that show any (empty otherwise)."""
    metrics = metric_names(table)
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


_MD_SPECIAL = {"|": r"\|", "<": "&lt;", ">": "&gt;", "&": "&amp;", "\\": "\\\\", "*": r"\*", "`": r"\`"}


def md_text(text: str) -> str:
    """A label as literal Markdown text: no cell split by ``|``, no HTML tag, emphasis or code span from it."""
    return "".join(_MD_SPECIAL.get(char, char) for char in text)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def md_cell(cell: Cell) -> str:
    if cell.kind == "factor":
        return md_text(cell.text)
    text = cell.text
    if cell.interval:
        text += f" [{cell.interval[0]}, {cell.interval[1]}]"
    elif cell.std:
        text += f" ± {cell.std}"
    text = f"**{text}**" if cell.rank == 1 else f"<u>{text}</u>" if cell.rank == 2 else text
    return text + MARKS["md"].get(cell.mark, "")


def latex_cell(cell: Cell) -> str:
    if cell.kind == "factor" or cell.text == "–":
        return "--" if cell.text == "–" else latex_escape(cell.text)
    if cell.kind == "number":
        text = cell.text
        return f"\\textbf{{{text}}}" if cell.rank == 1 else f"\\underline{{{text}}}" if cell.rank == 2 else text
    value = f"\\mathbf{{{cell.text}}}" if cell.rank == 1 else cell.text
    spread = (f"_{{[{cell.interval[0]}, {cell.interval[1]}]}}" if cell.interval
              else f"_{{\\pm {cell.std}}}" if cell.std else "")
    text = "$" + value + spread + MARKS["latex"].get(cell.mark, "") + "$"
    return f"\\underline{{{text}}}" if cell.rank == 2 else text


def render_table(table: pd.DataFrame, fmt: str = "md", digits: int = 2, caption: str | None = None,
                 directions: dict[str, str] | None = None) -> str:
    """Markdown, LaTeX (booktabs), CSV or JSON text of an :func:`ablation_table`, rows best first. Per column the
    best value is bold and the second best underlined, in the column's direction: ``directions`` maps a metric to
    max|min (default max: task metrics are higher-is-better); the trainable % is lower-is-better."""
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r} is not allowed; allowed: {', '.join(FORMATS)}")
    if fmt == "csv":
        return sort_rows(table, directions).to_csv(index=False)
    if fmt == "json":
        return sort_rows(table, directions).to_json(orient="records", indent=1)
    header, rows = table_cells(table, digits, directions)
    note = legend(table)
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(md_cell(c) for c in cells) + " |" for cells in rows] + (["", note] if note else [])
        return "\n".join(lines) + "\n"
    return _latex(header, rows, len(factor_names(table)), caption, note)


def _latex(header: list[str], rows: list[list[Cell]], factors: int, caption: str | None, note: str) -> str:
    columns = "l" * factors + "r" * (len(header) - factors)
    lines = ["\\begin{table}[t]", "\\centering"]
    if caption:
        lines.append(f"\\caption{{{latex_escape(caption)}}}")
    lines += [f"\\begin{{tabular}}{{{columns}}}", "\\toprule", " & ".join(latex_escape(h) for h in header) + " \\\\",
              "\\midrule"]
    lines += [" & ".join(latex_cell(c) for c in cells) + " \\\\" for cells in rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    if note:
        text = latex_escape(note).replace("<", "$<$")
        text = text.replace("†", "$^{\\dagger}$").replace("≈", "$^{\\approx}$")
        lines.append(f"\\par\\smallskip\\footnotesize {text}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"
