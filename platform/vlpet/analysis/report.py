"""Everything a finished (or running) study leaves for its readers, written into ``STUDY_DIR/report/``: the data
(results.csv/.parquet, ablation.md/.tex/.csv, budget and tuning tables), the plots (PNG; the Pareto plot also as
interactive HTML) and report.html, the page that shows them all (templated: :mod:`vlpet.analysis.page`).

Every file is written whole (a temporary file beside it, then a rename): a browser or a reader that opens one
while a live study rewrites it sees the old version or the new, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pandas as pd
import pyarrow.fs as pafs
from markupsafe import Markup

from vlpet.analysis.budgets import budget_curves, budget_leaderboard, has_budgets
from vlpet.analysis.dominance import dominance
from vlpet.analysis.files import write_text
from vlpet.analysis.formatting import number
from vlpet.analysis.page import Paragraph, Plot, Row, Section, Table, frame_table, image, render_page
from vlpet.analysis.pareto import by_configuration, pareto_front
from vlpet.analysis.plots import (budget_curves_png, curves_png, pareto_figure, pareto_html, pareto_png,
                                  tuning_curves_png)
from vlpet.analysis.rendering import MARKS, legend, table_cells
from vlpet.analysis.results import (export_frame, finished, load_curves, load_results, read_objectives,
                                    reported_objectives)
from vlpet.analysis.tables import ablation_table, render_table
from vlpet.analysis.tuning import tuning_curves
from vlpet.errors import ConfigError
from vlpet.study.formatting import duration
from vlpet.study.store import StudyStore, is_uri

REPORT_DIR = "report"
LIVE_REFRESH_S = 20
BUDGET_COLUMNS = ("trainable_pct", "trainable_params", "adapter_bytes")
TOP_COLUMNS = ["trial_id", "sampled", "seed", "metric", "trainable_pct", "trainable_params", "step", "status",
               "wall_s"]
STATES = (("finished", "TERMINATED"), ("running", "RUNNING"), ("waiting", "PENDING"), ("stopped", "STOPPED"),
          ("failed", "ERROR"))


def write_study_outputs(study_dir: str, out_dir: str | None = None, include_unfinished: bool = False,
                        live: bool = False) -> list[str]:
    """results.csv/.parquet, pareto.png/.html, curves.png, ablation.md/.tex/.csv and report.html; returns the
    paths written (URIs when the report goes to cloud storage: it is staged locally and uploaded).

    ``live``: the study is still running; the page says so (and when it was written) and reloads itself every
    ``LIVE_REFRESH_S`` seconds. The final page (``live=False``) does not reload.

    Never fails on what the study holds: with no finished trial yet it writes the results table and a report
    saying so; objectives it cannot plot or whose columns no trial reported are named in the report instead;
    damaged files are skipped (one warning each) and listed in the report's "Skipped files" section."""
    target = out_dir or f"{str(study_dir).rstrip('/')}/{REPORT_DIR}"
    if not is_uri(target):
        try:
            os.makedirs(target, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot write the report into {target}: {error.strerror or error}") from None
        return _write_outputs(study_dir, target, include_unfinished, live)
    staging = tempfile.mkdtemp(prefix="vlpet-report-")
    try:
        names = [os.path.basename(p) for p in _write_outputs(study_dir, staging, include_unfinished, live)]
        filesystem, root = pafs.FileSystem.from_uri(target)
        filesystem.create_dir(root, recursive=True)
        pafs.copy_files(staging, root, destination_filesystem=filesystem)
        return [f"{target.rstrip('/')}/{name}" for name in names]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_outputs(study_dir: str, out_dir: str, include_unfinished: bool, live: bool = False) -> list[str]:
    frame = load_results(study_dir, strict=False)
    stored = read_objectives(study_dir)
    objectives = reported_objectives(frame, stored)
    written = [export_frame(frame, os.path.join(out_dir, "results.csv")),
               export_frame(_parquet_safe(frame), os.path.join(out_dir, "results.parquet"))]
    done = finished(frame, include_unfinished)
    sections = [Section("Which numbers", [_split_note(objectives)], "split")]
    if done.empty:
        sections.append(Section("Results", [Paragraph("No trial has finished its budget yet: no frontier or "
                                                      "table to show.")], "results"))
    else:
        sections += _frontier_section(frame, objectives, out_dir, include_unfinished, written)
        sections += _table_section(frame, done, objectives, out_dir, include_unfinished, written)
        sections += _budget_section(frame, stored, out_dir, written)
        sections += _tuning_section(frame, stored, out_dir, written)
        sections += _bytes_section(done, objectives)
        sections += _curves_section(study_dir, out_dir, written)
    sections += _failed_section(frame) + _skipped_section(frame.attrs.get("skipped") or [])
    for section in sections:
        section.anchor = section.anchor or section.title.lower().replace(" ", "-")
    path = os.path.join(out_dir, "report.html")
    name = str(frame["study"].iloc[0]) if not frame.empty else os.path.basename(str(study_dir).rstrip("/"))
    status, state = _status(frame, study_dir, live)
    counted = (f"Tables and plots count {len(done)} {'reported' if include_unfinished else 'finished'} trial(s)"
               + ("" if include_unfinished else " of configurations whose every seed finished") + ".")
    write_text(path, render_page(sections, title=name, live=live, refresh_s=LIVE_REFRESH_S, status=status,
                                 state=state, counted=counted, written_at=_when(time.time()), marks=MARKS["html"],
                                 files=[os.path.basename(p) for p in written]))
    written.append(path)
    return written


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds)) if seconds else "–"


def _status(frame: pd.DataFrame, study_dir: str, live: bool) -> tuple[list[tuple[str, str]], str]:
    """The header's status block: trials per state, compute spent (each trial's wall time × its resources),
    start and end times; and the study's state in a word."""
    states = frame["status"].value_counts() if "status" in frame else pd.Series(dtype=int)
    items = [("trials", str(len(frame)))] + [(label, str(int(states.get(key, 0)))) for label, key in STATES
                                             if label != "waiting" or states.get(key, 0)]
    for column, label in (("cpu_hours", "CPU-hours spent"), ("gpu_hours", "GPU-hours spent")):
        spent = frame[column].sum() if column in frame else 0.0
        items.append((label, number(float(spent), column)))
    started, ended = _times(study_dir)
    still = live or bool(states.get("RUNNING", 0) or states.get("PENDING", 0))
    items += [("started", _when(started)), ("ended", "still running" if live else _when(ended))]
    if started:
        items.append(("elapsed", duration((time.time() if live or not ended else ended) - started)))
    state = "running" if live else ("stopped while trials ran" if still else "finished")
    return items, state


def _times(study_dir: str) -> tuple[float | None, float | None]:
    """The first trial's start and the last trial's end, from the trials' status records."""
    try:
        records = StudyStore(study_dir).statuses()
    except (OSError, ValueError):
        return None, None
    starts = [r["started"] for r in records if isinstance(r.get("started"), (int, float))]
    ends = [r["ended"] for r in records if isinstance(r.get("ended"), (int, float))]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _split_note(objectives: dict[str, str]) -> Paragraph:
    """Which split the numbers below come from."""
    if any(column.startswith("test_") for column in objectives):
        return Paragraph(Markup("Numbers are held-out <b>test</b> metrics (<code>test_*</code>) of the checkpoint "
                                "each trial tested; validation metrics alone drove the search and early stopping."))
    return Paragraph(Markup("Numbers are <b>validation</b> metrics: these trials were not tested on a held-out "
                            "split."))


def _unusable(frame: pd.DataFrame, objectives: dict[str, str]) -> str | None:
    """Why no frontier can be drawn for ``objectives`` (None when it can)."""
    missing = [c for c in objectives if c not in frame.columns]
    if missing:
        return f"no trial reported the objective column(s) {', '.join(missing)}"
    if "min" not in objectives.values() or "max" not in objectives.values():
        return f"the plot needs one objective to minimise and one to maximise, the study has {objectives}"
    return None


def _frontier_section(frame, objectives, out_dir, include_unfinished, written) -> list[Section]:
    problem = _unusable(frame, objectives)
    if problem:
        return [Section("Pareto frontier", [Paragraph(f"No frontier plot: {problem}.")], "pareto")]
    figure = pareto_figure(frame, objectives, include_unfinished)
    written += [pareto_png(frame, os.path.join(out_dir, "pareto.png"), objectives, include_unfinished),
                pareto_html(frame, os.path.join(out_dir, "pareto.html"), objectives, include_unfinished, figure=figure)]
    plot = Plot(Markup(figure.to_html(full_html=False, include_plotlyjs=False, div_id="pareto-plot",
                                      config={"responsive": True, "displaylogo": False})))
    x, y = (next(c for c, d in objectives.items() if d == want) for want in ("min", "max"))
    front = pareto_front(frame, objectives, True, include_unfinished).sort_values(y, ascending=False)
    if "trainable_params" in frame and "trainable_params" not in front and "config_key" in front:
        counts = frame.dropna(subset=["trainable_params"]).groupby("config_key")["trainable_params"].first()
        front["trainable_params"] = front["config_key"].map(counts)
    return [Section("Pareto frontier", [
        # the PNG first: when plotly draws the plot, its column already shares the row (else it is drawn full width)
        Row([image(os.path.join(out_dir, "pareto.png"), "pareto.png", "Pareto frontier (static PNG)"), plot]),
        Paragraph("The configurations no other configuration beats on both objectives, best first (seed means; "
                  "hover the interactive plot for every point, or open pareto.html on its own)."),
        frame_table(front, ["arm", "setting", y, f"{y}_std", x, "trainable_params", "n"],
                    {f"{y}_std": "± std"})], "pareto"), *_dominance_section(frame, objectives, include_unfinished)]


def _dominance_section(frame, objectives, include_unfinished) -> list[Section]:
    """Each frontier point against the configurations it dominates: significantly better, or statistically tied."""
    result = dominance(frame, objectives, include_unfinished=include_unfinished)
    if result.empty:
        return []
    return [Section("Frontier points against the configurations they dominate", [
        Paragraph("Paired t-test over the seeds both share, Holm-corrected over these rows: better: the frontier "
                  "point is significantly better (p_holm < 0.05); tied: the seeds cannot tell the two apart; below "
                  "two shared seeds there is no test."),
        frame_table(result, ["front", "dominated", "metric", "n", "mean_front", "mean_dominated", "diff", "ci_low",
                             "ci_high", "p_value", "p_holm", "verdict", "note"], {"metric": "on"})], "comparisons", 3)]


def _table_section(frame, done, objectives, out_dir, include_unfinished, written) -> list[Section]:
    table = ablation_table(frame, include_unfinished=include_unfinished)
    for fmt, ext in (("md", "md"), ("latex", "tex"), ("csv", "csv")):
        path = os.path.join(out_dir, f"ablation.{ext}")
        write_text(path, render_table(table, fmt, caption="Ablation (mean ± std over seeds)"))
        written.append(path)
    header, rows = table_cells(table)
    primary, direction = next(((c, d) for c, d in objectives.items() if c in done), ("metric", "max"))
    top = done.sort_values(primary, ascending=direction == "min", kind="stable").head(10)
    return [Section("Ablation table (mean ± std over seeds)", [
        Table(header, rows, legend(table)),
        Paragraph("Best first by the primary metric; per column the best entry is bold and the second underlined "
                  "(entries that print alike share their mark). The same table: ablation.md, ablation.tex, "
                  "ablation.csv.")], "ablation"),
        Section("Top trials", [frame_table(top, [*TOP_COLUMNS[:3], primary, *TOP_COLUMNS[4:]])], "top")]


def _budget_section(frame, objectives, out_dir, written) -> list[Section]:
    """Accuracy vs budget per method and the budget-banded leaderboard, for studies with budgets."""
    metric, mode = next(((k, v) for k, v in objectives.items() if k not in BUDGET_COLUMNS), ("metric", "max"))
    if not has_budgets(frame) or metric not in frame:
        return []
    curves = budget_curves(frame, metric, mode)
    if curves.empty:
        return [Section("Accuracy vs budget", [Paragraph("No sized configuration has finished all its seeds yet.")],
                        "budgets")]
    board = budget_leaderboard(frame, metric, mode)
    for name, table in (("budget_curves.csv", curves), ("budget_leaderboard.csv", board)):
        written.append(export_frame(table, os.path.join(out_dir, name)))
    written.append(budget_curves_png(curves, os.path.join(out_dir, "budget_curves.png")))
    return [Section("Accuracy vs budget", [
        image(os.path.join(out_dir, "budget_curves.png"), "budget_curves.png", "accuracy at equal budgets"),
        Paragraph("Each method at each budget target: the configuration with the best validation seed mean, its "
                  "reported seed mean and 95% t interval over seeds."),
        frame_table(curves.drop(columns=["key"]), list(curves.columns.drop("key")))], "budgets"),
        Section("Budget-banded leaderboard", [
            Paragraph("The best method at each target against the runner-up, paired t-test over shared seeds, "
                      "Holm-corrected over the targets."), frame_table(board, list(board.columns))],
            "leaderboard", 3)]


def _tuning_section(frame, objectives, out_dir, written) -> list[Section]:
    """Each arm's tuning curve: the best seed mean found against the CPU-hours it spent."""
    metric, mode = next(((k, v) for k, v in objectives.items() if k not in BUDGET_COLUMNS), ("metric", "max"))
    curves = tuning_curves(frame, metric, mode)
    if curves.empty or curves["best"].isna().all():
        return []
    written.append(tuning_curves_png(curves, os.path.join(out_dir, "tuning_curves.png"), metric))
    last = curves.groupby("unit").tail(1).sort_values("best", ascending=mode == "min", kind="stable")
    return [Section("Tuning effort", [
        image(os.path.join(out_dir, "tuning_curves.png"), "tuning_curves.png", "tuning curves per arm"),
        Paragraph(f"Best validation seed mean of {metric} found so far against the CPU-hours each arm spent "
                  "(stopped and failed trials included): an arm that wins only after more compute was tuned more."),
        frame_table(last, list(last.columns), {"unit": "arm", "best": f"best {metric}"})], "tuning")]


def _bytes_section(done: pd.DataFrame, objectives: dict[str, str]) -> list[Section]:
    """The stored size of each configuration's trained weights, smallest first, for studies that report it."""
    if "adapter_bytes" not in done or done["adapter_bytes"].isna().all():
        return []
    primary = next((c for c, d in objectives.items() if d == "max" and c in done), "metric")
    sizes = by_configuration(done, ["adapter_bytes", primary]).sort_values("adapter_bytes", kind="stable")
    sizes["adapter_kb"] = sizes["adapter_bytes"] / 1024
    return [Section("Adapter size", [
        Paragraph("What each configuration trains, at its stored precision (adapter_bits): the bytes of the "
                  "PET-only checkpoint a user would ship, smallest first."),
        frame_table(sizes, ["arm", "setting", "adapter_bytes", "adapter_kb", primary, "n"],
                    {"adapter_kb": "KB"})], "bytes")]


def _curves_section(study_dir: str, out_dir: str, written: list[str]) -> list[Section]:
    written.append(curves_png(load_curves(study_dir), os.path.join(out_dir, "curves.png")))
    return [Section("Metric per evaluation", [image(os.path.join(out_dir, "curves.png"), "curves.png",
                                                    "the metric at each evaluation, one line per trial")], "curves")]


def _failed_section(frame: pd.DataFrame) -> list[Section]:
    failed = frame[frame["status"] == "ERROR"] if "status" in frame else frame.iloc[0:0]
    if failed.empty:
        return []
    return [Section("Failed trials", [frame_table(failed, ["trial_id", "sampled", "seed", "error"])], "failed")]


def _skipped_section(skipped: list[dict[str, str]]) -> list[Section]:
    """The damaged files the report left out, with why (nothing when none was)."""
    if not skipped:
        return []
    table = pd.DataFrame(skipped).drop(columns="study")
    return [Section("Skipped files", [Paragraph(f"{len(table)} damaged file(s) of the study directory could not be "
                                                "read and were left out of everything above:"),
                                      frame_table(table, list(table.columns))], "skipped")]


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column: mixed object columns become strings."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: None if v is None else str(v))
    return out
