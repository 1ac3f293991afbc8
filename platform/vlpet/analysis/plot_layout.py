"""Plot layout that matplotlib does not do by itself: log-axis ticks dense enough to read the points' range, and
point labels placed where they collide with no other label or point."""

from __future__ import annotations

import math

import pandas as pd


def plain_text(label: object) -> str:
    """A label as matplotlib shows it literally: ``$`` escaped so that no mathtext is parsed (``$^$`` would make
    it fail), and a leading ``_`` (whose label a legend drops) kept visible by a space before it."""
    text = str(label).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def log_range(lows: pd.Series, highs: pd.Series) -> tuple[float, float]:
    """x limits around the points (error bars included) with a margin of a fifth of a decade each side."""
    positive = pd.concat([lows[lows > 0], highs[highs > 0]])
    low, high = (float(positive.min()), float(positive.max())) if len(positive) else (0.1, 100.0)
    return low / 1.6, high * 1.6


# Tick mantissas in the order they are given a label: 1 first, then 2 and 5, then the rest where room is left.
TICK_PRIORITY = (1, 2, 5, 3, 1.5, 4, 7, 1.2, 2.5, 6, 8, 9)


def log_ticks(low: float, high: float, width_px: float, spacing_px: float = 36) -> list[float]:
    """Labelled ticks for a log axis over [low, high] drawn ``width_px`` wide: the mantissas of
    :data:`TICK_PRIORITY` in turn, each kept where it lies at least ``spacing_px`` from every tick kept before,
    so that a range such as 10 to 20 gets 12 and 15 when there is room for them."""
    per_decade = width_px / max(math.log10(high / low), 1e-9)
    kept: list[float] = []
    for mantissa in TICK_PRIORITY:
        for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
            value = float(f"{mantissa * 10 ** exponent:.12g}")
            if low <= value <= high and all(abs(math.log10(value / k)) * per_decade >= spacing_px for k in kept):
                kept.append(value)
    return sorted(kept)


def set_log_ticks(axis, low: float, high: float) -> None:
    """Plain-number labels (0.5, 1, 12) at :func:`log_ticks`; the other 1-9 multiples as unlabelled minor ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    figure = axis.get_figure()
    ticks = log_ticks(low, high, figure.get_figwidth() * figure.dpi * 0.6)
    axis.xaxis.set_major_locator(FixedLocator(ticks))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_locator(LogLocator(subs=tuple(range(1, 10))))
    axis.xaxis.set_minor_formatter(NullFormatter())


def label_points(axis, points: pd.DataFrame, front: pd.DataFrame, x: str, y: str) -> list[str]:
    """Frontier points get their label, the others a number; each text is put at the first of a few offsets
    around its point where it overlaps no label placed before and no point (the least overlapping otherwise).
    Returns the key: ``n: label`` for each numbered point."""
    on_front = set(zip(front[x].round(9), front[y].round(9)))
    placed = [_box(axis, px, py, 0, 0, 8, 8, centred=True) for px, py in zip(points[x], points[y])]
    key: list[str] = []
    groups = points.sort_values([y, x], ascending=[False, True]).groupby([x, y], sort=False)
    for (px, py), group in groups:
        label = ", ".join(dict.fromkeys(group["label"]))
        if (round(px, 9), round(py, 9)) not in on_front:
            key.append(f"{len(key) + 1}: {label}")
            label = str(len(key))
        width, height = 4.2 * len(label) + 4, 9
        best = min(OFFSETS, key=lambda o: sum(_overlap(_box(axis, px, py, *_shift(o, width), width, height), b)
                                             for b in placed))
        dx, dy = _shift(best, width)
        placed.append(_box(axis, px, py, dx, dy, width, height))
        # a label moved off its first place gets a thin leader line, so that it is clear whose it is
        leader = None if best == OFFSETS[0] else {"arrowstyle": "-", "color": "grey", "linewidth": 0.5,
                                                   "shrinkA": 1, "shrinkB": 3}
        axis.annotate(plain_text(label), (px, py), textcoords="offset points", xytext=(dx, dy), fontsize=7,
                      fontweight="bold" if label[0].isdigit() else "normal", arrowprops=leader)
    return key


# Candidate label offsets (points) from the point to the text's lower-left corner; "w" is the text's width.
OFFSETS = ((5, 4), (5, -12), ("-w", 4), ("-w", -12), (-0.5, 9), (-0.5, -19), (9, 12), (9, -20), ("-w", 12),
           ("-w", -20))


def _shift(offset, width: float) -> tuple[float, float]:
    dx, dy = offset
    if dx == "-w":
        return -width - 5, dy
    return (dx * width if -1 < dx < 0 else dx), dy


def _box(axis, px: float, py: float, dx: float, dy: float, width: float, height: float, centred: bool = False):
    """The (x0, y0, x1, y1) pixel box of a ``width`` x ``height`` points text at offset (dx, dy) from (px, py)."""
    scale = axis.get_figure().dpi / 72
    cx, cy = axis.transData.transform((px, py))
    x0, y0 = (cx - width * scale / 2, cy - height * scale / 2) if centred else (cx + dx * scale, cy + dy * scale)
    return x0, y0, x0 + width * scale, y0 + height * scale


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
