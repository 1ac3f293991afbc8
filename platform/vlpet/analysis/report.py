"""Everything a finished (or running) study leaves for its readers, written into ``STUDY_DIR/report/``."""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
import time

import pandas as pd
import pyarrow.fs as pafs

from vlpet.analysis.budgets import budget_curves, budget_leaderboard, has_budgets
from vlpet.analysis.dominance import dominance
from vlpet.analysis.files import write_text
from vlpet.analysis.pareto import pareto_front
from vlpet.analysis.plots import budget_curves_png, curves_png, pareto_html, pareto_png, tuning_curves_png
from vlpet.analysis.results import (export_frame, finished, load_curves, load_results, read_objectives,
                                    reported_objectives)
from vlpet.analysis.tables import ablation_table, render_table
from vlpet.analysis.tuning import tuning_curves
from vlpet.errors import ConfigError
from vlpet.study.store import is_uri

REPORT_DIR = "report"
BUDGET_COLUMNS = ("trainable_pct", "trainable_params", "adapter_bytes")
LIVE_REFRESH_S = 20
TOP_COLUMNS = ["trial_id", "arm", "sampled", "seed", "metric", "trainable_pct", "step", "status", "wall_s"]


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
    objectives = reported_objectives(frame, read_objectives(study_dir))
    written = [export_frame(frame, os.path.join(out_dir, "results.csv")),
               export_frame(_parquet_safe(frame), os.path.join(out_dir, "results.parquet"))]
    done = finished(frame, include_unfinished)
    sections = [f"<h1>Study {html.escape(str(frame['study'].iloc[0]) if not frame.empty else study_dir)}</h1>",
                f"<p>{len(frame)} trials: {_status_counts(frame)}. Counted below: {len(done)} "
                f"{'reported' if include_unfinished else 'finished'} trials.</p>", _split_note(objectives)]
    if live:
        sections.insert(1, f"<p class='live'>The study is running: this page was written at "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')} and reloads every {LIVE_REFRESH_S} s.</p>")
    if done.empty:
        sections.append("<p>No trial has finished its budget yet: no frontier or table to show.</p>")
    else:
        sections += _frontier_section(frame, objectives, out_dir, include_unfinished, written)
        sections += _table_section(frame, done, objectives, out_dir, include_unfinished, written)
        sections += _budget_section(frame, read_objectives(study_dir), out_dir, written)
        sections += _tuning_section(frame, read_objectives(study_dir), out_dir, written)
        curves = load_curves(study_dir)
        written.append(curves_png(curves, os.path.join(out_dir, "curves.png")))
        sections += ["<h2>Metric per evaluation</h2>", _image(os.path.join(out_dir, "curves.png"))]
    failed = frame[frame["status"] == "ERROR"] if "status" in frame else frame.iloc[0:0]
    if not failed.empty:
        sections += ["<h2>Failed trials</h2>", failed[["trial_id", "sampled", "seed", "error"]].to_html(index=False)]
    sections += _skipped_section(frame.attrs.get("skipped") or [])
    path = os.path.join(out_dir, "report.html")
    write_text(path, "<!doctype html><html><head><meta charset='utf-8'><title>vlpet report</title>"
               + (f"<meta http-equiv='refresh' content='{LIVE_REFRESH_S}'>" if live else "")
               + "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
               "font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}</style></head><body>"
               + "\n".join(sections) + "</body></html>")
    written.append(path)
    return written


def _skipped_section(skipped: list[dict[str, str]]) -> list[str]:
    """The damaged files the report left out, with why (nothing when none was)."""
    if not skipped:
        return []
    table = pd.DataFrame(skipped).drop(columns="study")
    return ["<h2>Skipped files</h2>", f"<p>{len(table)} damaged file(s) of the study directory could not be read "
            "and were left out of everything above:</p>", table.to_html(index=False)]


def _split_note(objectives: dict[str, str]) -> str:
    """Which split the numbers below come from."""
    if any(column.startswith("test_") for column in objectives):
        return ("<p>Numbers are held-out <b>test</b> metrics (<code>test_*</code>) of the checkpoint each trial "
                "tested; validation metrics alone drove the search and early stopping.</p>")
    return "<p>Numbers are <b>validation</b> metrics: these trials were not tested on a held-out split.</p>"


def _unusable(frame: pd.DataFrame, objectives: dict[str, str]) -> str | None:
    """Why no frontier can be drawn for ``objectives`` (None when it can)."""
    missing = [c for c in objectives if c not in frame.columns]
    if missing:
        return f"no trial reported the objective column(s) {', '.join(missing)}"
    if "min" not in objectives.values() or "max" not in objectives.values():
        return f"the plot needs one objective to minimise and one to maximise, the study has {objectives}"
    return None


def _frontier_section(frame, objectives, out_dir, include_unfinished, written) -> list[str]:
    problem = _unusable(frame, objectives)
    if problem:
        return ["<h2>Pareto frontier</h2>", f"<p>No frontier plot: {html.escape(problem)}.</p>"]
    written += [pareto_png(frame, os.path.join(out_dir, "pareto.png"), objectives, include_unfinished),
                pareto_html(frame, os.path.join(out_dir, "pareto.html"), objectives, include_unfinished)]
    front = pareto_front(frame, objectives, True, include_unfinished)
    return ["<h2>Pareto frontier</h2>", _image(os.path.join(out_dir, "pareto.png")),
            "<p>Interactive version: <a href='pareto.html'>pareto.html</a></p>",
            front.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–"),
            *_dominance_section(frame, objectives, include_unfinished)]


def _dominance_section(frame, objectives, include_unfinished) -> list[str]:
    """Each frontier point against the configurations it dominates: significantly better, or statistically tied."""
    result = dominance(frame, objectives, include_unfinished=include_unfinished)
    if result.empty:
        return []
    return ["<h3>Frontier points against the configurations they dominate</h3>",
            "<p>Paired t-test over the seeds both share, Holm-corrected over these rows: <b>better</b>: the frontier "
            "point is significantly better (p_holm &lt; 0.05); <b>tied</b>: the seeds cannot tell the two apart; "
            "below two shared seeds there is no test.</p>",
            result.drop(columns=["front_key", "dominated_key"]).to_html(
                index=False, float_format=lambda v: f"{v:.4g}", na_rep="–")]


def _table_section(frame, done, objectives, out_dir, include_unfinished, written) -> list[str]:
    table = ablation_table(frame, include_unfinished=include_unfinished)
    for fmt, ext in (("md", "md"), ("latex", "tex"), ("csv", "csv")):
        path = os.path.join(out_dir, f"ablation.{ext}")
        write_text(path, render_table(table, fmt, caption="Ablation (mean ± std over seeds)"))
        written.append(path)
    return ["<h2>Ablation table (mean ± std over seeds)</h2>",
            table.to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="–"),
            "<h2>Top trials</h2>", _top(done, objectives).to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                                                   na_rep="–")]


def _budget_section(frame, objectives, out_dir, written) -> list[str]:
    """Accuracy vs budget per method and the budget-banded leaderboard, for studies with budgets."""
    metric, mode = next(((k, v) for k, v in objectives.items() if k not in BUDGET_COLUMNS), ("metric", "max"))
    if not has_budgets(frame) or metric not in frame:
        return []
    curves = budget_curves(frame, metric, mode)
    if curves.empty:
        return ["<h2>Accuracy vs budget</h2>", "<p>No sized configuration has finished all its seeds yet.</p>"]
    board = budget_leaderboard(frame, metric, mode)
    for name, table in (("budget_curves.csv", curves), ("budget_leaderboard.csv", board)):
        written.append(export_frame(table, os.path.join(out_dir, name)))
    written.append(budget_curves_png(curves, os.path.join(out_dir, "budget_curves.png")))
    return ["<h2>Accuracy vs budget</h2>", _image(os.path.join(out_dir, "budget_curves.png")),
            "<p>Each method at each budget target: the configuration with the best validation seed mean, its "
            "reported seed mean and 95% t interval over seeds.</p>",
            curves.drop(columns=["key"]).to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–"),
            "<h3>Budget-banded leaderboard</h3>", "<p>The best method at each target against the runner-up, "
            "paired t-test over shared seeds, Holm-corrected over the targets.</p>",
            board.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–")]


def _tuning_section(frame, objectives, out_dir, written) -> list[str]:
    """Each arm's tuning curve: the best seed mean found against the CPU-hours it spent."""
    metric, mode = next(((k, v) for k, v in objectives.items() if k not in BUDGET_COLUMNS), ("metric", "max"))
    curves = tuning_curves(frame, metric, mode)
    if curves.empty or curves["best"].isna().all():
        return []
    written.append(tuning_curves_png(curves, os.path.join(out_dir, "tuning_curves.png"), metric))
    last = curves.groupby("unit").tail(1)
    return ["<h2>Tuning effort</h2>", _image(os.path.join(out_dir, "tuning_curves.png")),
            f"<p>Best validation seed mean of {html.escape(metric)} found so far against the CPU-hours each arm "
            "spent (stopped and failed trials included): an arm that wins only after more compute was tuned more."
            "</p>", last.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–")]


def _status_counts(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "none yet"
    return ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())


def _top(frame: pd.DataFrame, objectives: dict[str, str], count: int = 10) -> pd.DataFrame:
    primary, direction = next(((c, d) for c, d in objectives.items() if c in frame), ("metric", "max"))
    ordered = frame.sort_values(primary, ascending=direction == "min").head(count)
    return ordered[[c for c in TOP_COLUMNS if c in ordered]]


def _image(path: str) -> str:
    with open(path, "rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    return f"<img style='max-width:100%' src='data:image/png;base64,{data}'/>"


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column: mixed object columns become strings."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: None if v is None else str(v))
    return out
