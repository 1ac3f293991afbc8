"""Pareto scatter (trainable % on a log axis vs the metric, frontier as a step line, labelled points, error bars
over seeds; frontier points significantly better than everything they dominate starred, dotted lines to the
dominated points a frontier point is statistically tied with) as PNG (matplotlib) and interactive HTML (plotly),
and metric-vs-step curves per trial."""

from __future__ import annotations

import html
import math

import pandas as pd

from vlpet.analysis.compare import configuration_keys
from vlpet.analysis.dominance import dominance, front_verdicts, pair_verdicts
from vlpet.analysis.files import whole
from vlpet.analysis.formatting import setting_labels
from vlpet.analysis.pareto import by_configuration, pareto_front
from vlpet.analysis.plot_layout import label_points, log_range, log_ticks, plain_text, set_log_ticks  # noqa: F401
from vlpet.analysis.results import DEFAULT_OBJECTIVES, columns_exist, finished
from vlpet.errors import ConfigError


def _figure(size: tuple[float, float] = (7, 4.5)):
    """A figure on its own Agg canvas: no pyplot, so the caller's (e.g. a notebook's) backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=150, layout="tight")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def web_text(label: object) -> str:
    """A label as plotly shows it literally: HTML-escaped, and ``$`` as an entity (plotly reads ``$…$`` as TeX)."""
    return html.escape(str(label)).replace("$", "&#36;")


def _axes(objectives: dict[str, str]) -> tuple[str, str]:
    """x: the cost objective (min), y: the quality objective (max)."""
    x = next((c for c, d in objectives.items() if d == "min"), None)
    y = next((c for c, d in objectives.items() if d == "max"), None)
    if x is None or y is None:
        raise ConfigError(f"a Pareto plot needs one objective to minimise and one to maximise, got {objectives}")
    return x, y


def method_reads(method: object, key: str) -> bool:
    """Whether PET method ``method`` reads trial key ``key``, from its registry record; False for unknown names."""
    from vlpet.pet.registry import registered_methods

    record = registered_methods().get(method) if isinstance(method, str) else None
    return record is not None and key in record.keys


def point_label(row: pd.Series) -> str:
    """Arm, gate and, for a method with a bottleneck, ``r=``: e.g. ``vl-pet large r=96``."""
    parts = [str(row.get("arm") or row.get("method") or "")]
    if isinstance(row.get("granularity"), str) and row.get("granularity") not in ("", "none"):
        parts.append(str(row["granularity"]))
    method = row.get("method") if isinstance(row.get("method"), str) else row.get("arm")
    if "bottleneck" in row and pd.notna(row.get("bottleneck")) and method_reads(method, "bottleneck"):
        parts.append(f"r={int(row['bottleneck'])}")
    return " ".join(p for p in parts if p)


def _points(frame: pd.DataFrame, objectives: dict[str, str], include_unfinished: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = _axes(objectives)
    columns_exist(frame, [x, y], "objective")
    rows = finished(frame, include_unfinished)
    if rows.empty:
        raise ConfigError("no finished trials to plot yet")
    points = by_configuration(rows, [x, y]).dropna(subset=[x, y])
    points["label"] = points.apply(point_label, axis=1)
    front = pareto_front(frame, {x: "min", y: "max"}, True, include_unfinished).sort_values(x)
    return points, front


def _y_name(frame: pd.DataFrame, y: str) -> str:
    """The quality axis's name: the task metric's own name for ``metric``."""
    names = frame["metric_name"].dropna() if y == "metric" and "metric_name" in frame else ()
    return str(names.iloc[0]) if len(names) else y


BETTER = "significantly better than all it dominates"
TIED = "statistically tied with a dominated point"


def _dominance_marks(frame: pd.DataFrame, points: pd.DataFrame, x: str, y: str, include_unfinished: bool
                     ) -> tuple[pd.DataFrame, list[tuple[float, float, float, float]]]:
    """The frontier points significantly better than every point they dominate (paired t-test on ``y``, Holm),
    and (x0, y0, x1, y1) segments from a frontier point to each dominated point it is statistically tied with."""
    result = dominance(frame, {x: "min", y: "max"}, include_unfinished=include_unfinished)
    where = points.set_index(configuration_keys(points))[[x, y]]
    if result.empty:
        return where.iloc[0:0], []
    better = [key for key, verdict in front_verdicts(result).items() if verdict == "better"]
    pairs = pair_verdicts(result)
    ties = pairs[pairs["verdict"] == "tied"]
    return where.loc[better], [(*where.loc[top], *where.loc[below])
                               for top, below in zip(ties["front_key"], ties["dominated_key"])]


def pareto_png(frame: pd.DataFrame, path: str, objectives: dict[str, str] | None = None,
               include_unfinished: bool = False, title: str | None = None) -> str:
    """The frontier as a PNG: frontier points labelled by name, the others numbered (the key beside the plot),
    labels placed where they overlap no other label or point, log ticks dense enough to read the points' range."""
    figure, axis, key = pareto_axes(frame, objectives, include_unfinished, title)
    return _save(figure, axis, path, grid_which="both", outside=True, key=key)


def pareto_axes(frame: pd.DataFrame, objectives: dict[str, str] | None = None, include_unfinished: bool = False,
                title: str | None = None):
    """:func:`pareto_png`'s figure, its axes and the key of its numbered points, before the legend and saving."""
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    x, y = _axes(objectives)
    points, front = _points(frame, objectives, include_unfinished)
    figure, axis = _figure(size=(9, 5))
    for arm, group in points.groupby(points["arm"].astype(str), sort=False):
        axis.errorbar(group[x], group[y], xerr=group[f"{x}_std"].fillna(0), yerr=group[f"{y}_std"].fillna(0), fmt="o",
                      capsize=3, label=plain_text(arm), alpha=0.85)
    axis.step(front[x], front[y], where="post", color="black", linewidth=1.2, label="Pareto frontier")
    better, ties = _dominance_marks(frame, points, x, y, include_unfinished)
    for index, (x0, y0, x1, y1) in enumerate(ties):
        axis.plot([x0, x1], [y0, y1], linestyle=":", color="grey", linewidth=1.2, label=None if index else TIED)
    if not better.empty:
        axis.scatter(better[x], better[y], marker="*", s=260, facecolors="none", edgecolors="black", linewidths=1,
                     zorder=5, label=BETTER)
    axis.set_xscale("log")
    low, high = log_range(points[x] - points[f"{x}_std"].fillna(0), points[x] + points[f"{x}_std"].fillna(0))
    axis.set_xlim(low, high)
    set_log_ticks(axis, low, high)
    axis.autoscale_view()
    key = label_points(axis, points, front, x, y)
    axis.set_xlabel(plain_text(f"{x} (log scale, lower is better)"))
    axis.set_ylabel(plain_text(f"{_y_name(frame, y)} (higher is better)"))
    axis.set_title(plain_text(title or "accuracy vs trainable parameters (mean ± std over seeds; paired t-tests, "
                              "Holm, p < 0.05)"), fontsize=10)
    return figure, axis, key


def pareto_figure(frame: pd.DataFrame, objectives: dict[str, str] | None = None, include_unfinished: bool = False,
                  title: str | None = None):
    """The Pareto plot as a plotly figure (hover shows each configuration and its seed count), with the same log
    ticks as the PNG."""
    import plotly.graph_objects as go

    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    x, y = _axes(objectives)
    points, front = _points(frame, objectives, include_unfinished)
    points["setting_label"] = setting_labels(list(points["sampled"])) if "sampled" in points else points["label"]
    figure = go.Figure()
    for arm, group in points.groupby(points["arm"].astype(str), sort=False):
        figure.add_trace(go.Scatter(
            x=group[x], y=group[y], mode="markers", name=web_text(arm), text=group["label"].map(web_text),
            error_y={"type": "data", "array": group[f"{y}_std"].fillna(0)},
            customdata=group[["setting_label", "n"]].astype(str).map(web_text).to_numpy(),
            hovertemplate=f"%{{text}}<br>%{{customdata[0]}}<br>{web_text(x)}=%{{x:.2f}}<br>{web_text(y)}=%{{y:.2f}}"
                          "<br>seeds: %{customdata[1]}<extra></extra>"))
    # no text on the points: close points' labels would collide; hovering names each point
    figure.add_trace(go.Scatter(x=front[x], y=front[y], mode="lines", line={"shape": "hv", "color": "black"},
                                name="Pareto frontier", hoverinfo="skip"))
    better, ties = _dominance_marks(frame, points, x, y, include_unfinished)
    if ties:        # one trace: segments separated by gaps (None)
        figure.add_trace(go.Scatter(x=[v for s in ties for v in (s[0], s[2], None)],
                                    y=[v for s in ties for v in (s[1], s[3], None)], mode="lines", name=TIED,
                                    line={"dash": "dot", "color": "grey"}, hoverinfo="skip"))
    if not better.empty:
        figure.add_trace(go.Scatter(x=better[x], y=better[y], mode="markers", name=BETTER, hoverinfo="skip",
                                    marker={"symbol": "star-open", "size": 18, "color": "black"}))
    low, high = log_range(points[x] - points[f"{x}_std"].fillna(0), points[x] + points[f"{x}_std"].fillna(0))
    ticks = log_ticks(low, high, 600)
    figure.update_layout(title=web_text(title or "accuracy vs trainable parameters (mean ± std over seeds)"),
                         xaxis={"type": "log", "title": web_text(f"{x} (log scale, lower is better)"),
                                "range": [math.log10(low), math.log10(high)],     # log axes take log10 limits
                                "tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]},
                         yaxis={"title": web_text(f"{_y_name(frame, y)} (higher is better)")},
                         template="plotly_white", margin={"l": 60, "r": 30, "t": 50, "b": 40}, height=480,
                         title_font_size=14, modebar_orientation="v",
                         legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0})
    return figure


def pareto_html(frame: pd.DataFrame, path: str, objectives: dict[str, str] | None = None,
                include_unfinished: bool = False, title: str | None = None, figure=None) -> str:
    """:func:`pareto_figure` (or the ``figure`` it already made) as a page of its own, plotly.js embedded (it
    works offline)."""
    figure = figure or pareto_figure(frame, objectives, include_unfinished, title)
    with whole(path) as temporary:
        figure.write_html(temporary, include_plotlyjs=True, full_html=True)
    return path


def curves_png(curves: pd.DataFrame, path: str, metric: str = "metric") -> str:
    """Metric vs training step, one line per trial, coloured by arm; a trial with a single evaluation (stopped
    at its first one, e.g. by ASHA) is an open circle labelled with its trial id rather than an unexplained dot."""
    return _save(*curves_axes(curves, metric), path)


def curves_axes(curves: pd.DataFrame, metric: str = "metric"):
    """:func:`curves_png`'s figure and axes, before the legend and saving."""
    columns_exist(curves, [metric, "step", "trial_id"], "curve")
    figure, axis = _figure()
    colours = {arm: f"C{i}" for i, arm in enumerate(dict.fromkeys(curves["arm"].astype(str)))}
    labelled: set[str] = set()
    lone = 0
    for trial_id, group in curves.sort_values("step").groupby("trial_id", sort=False):
        arm = str(group["arm"].iloc[0])
        if len(group) == 1:
            axis.scatter(group["step"], group[metric], s=36, facecolors="none", edgecolors=colours[arm], zorder=4,
                         label=None if lone else "a single evaluation (stopped there, or still running)")
            axis.annotate(plain_text(trial_id), (group["step"].iloc[0], group[metric].iloc[0]), fontsize=6,
                          textcoords="offset points", xytext=(4, -3), color=colours[arm])
            lone += 1
        axis.plot(group["step"], group[metric], marker=".", color=colours[arm], alpha=0.7,
                  label=None if arm in labelled else plain_text(arm))
        labelled.add(arm)
    name = _y_name(curves, metric)
    axis.set_xlabel("training step")
    axis.set_ylabel(plain_text(name))
    axis.set_title(plain_text(f"{name} at each evaluation, one line per trial"))
    return figure, axis


def budget_curves_png(curves: pd.DataFrame, path: str) -> str:
    """Reported metric vs budget target, one line per method, error bars = the interval over seeds
    (:func:`vlpet.analysis.budgets.budget_curves`)."""
    columns_exist(curves, ["method", "budget_target", "mean", "ci_low", "ci_high"], "budget curve")
    figure, axis = _figure()
    for index, (method, group) in enumerate(curves.sort_values("budget_target").groupby("method", sort=True)):
        low = (group["mean"] - group["ci_low"]).fillna(0).clip(lower=0)
        high = (group["ci_high"] - group["mean"]).fillna(0).clip(lower=0)
        axis.errorbar(group["budget_target"], group["mean"], yerr=[low, high], marker="o", capsize=3,
                      color=f"C{index}", label=plain_text(method))
    unit = str(curves["budget_unit"].iloc[0]) if "budget_unit" in curves and len(curves) else "pct"
    axis.set_xlabel({"pct": "budget target (trainable %)", "params": "budget target (trainable parameters)",
                     "bytes": "budget target (bytes of trained weights)"}.get(unit, "budget target"))
    reported = str(curves["reported"].iloc[0]) if "reported" in curves and len(curves) else "metric"
    axis.set_ylabel(plain_text(reported))
    axis.set_title(plain_text(f"{reported} at equal budgets: best configuration per method, 95% CI over seeds"))
    return _save(figure, axis, path)


def tuning_curves_png(curves: pd.DataFrame, path: str, metric: str = "metric") -> str:
    """Best seed mean so far against CPU-hours spent, one step line per arm
    (:func:`vlpet.analysis.tuning.tuning_curves`)."""
    columns_exist(curves, ["unit", "cpu_hours", "best"], "tuning curve")
    figure, axis = _figure()
    for index, (unit, group) in enumerate(curves.groupby("unit", sort=True)):
        axis.step(group["cpu_hours"], group["best"], where="post", marker=".", color=f"C{index}",
                  label=plain_text(unit))
    axis.set_xlabel("CPU-hours spent (every trial, stopped ones included)")
    axis.set_ylabel(plain_text(f"best seed mean of {metric} so far"))
    axis.set_title(plain_text("tuning curves: best configuration found against compute, per arm"))
    return _save(figure, axis, path)


def _save(figure, axis, path: str, grid_which: str = "major", outside: bool = False, key: list[str] = ()) -> str:
    """Every plot's finish: a light grid, the legend (``outside`` the axes on the right, with the ``key`` of
    numbered points under it), and the PNG written whole at ``path``."""
    from matplotlib.lines import Line2D

    axis.grid(True, which=grid_which, alpha=0.3)
    if not outside:
        axis.legend(fontsize=8)
    else:
        legends = [axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)]
        if key:
            axis.add_artist(legends[0])
            handles = [Line2D([], [], linestyle="none", marker=f"${entry.split(':')[0]}$", color="black",
                              markersize=6) for entry in key]
            legends.append(axis.legend(handles, [plain_text(entry.split(": ", 1)[1]) for entry in key], fontsize=6,
                                       loc="lower left", bbox_to_anchor=(1.02, 0), borderaxespad=0,
                                       title="other points", title_fontsize=7))
        figure.set_layout_engine("none")      # the legends sit outside the axes: the saved box grows to hold them
    with whole(path) as temporary:
        figure.savefig(temporary, **({"bbox_inches": "tight", "bbox_extra_artists": legends, "pad_inches": 0.1}
                                     if outside else {}))
    return path

