"""The report page's building blocks (paragraphs, tables of formatted cells, images, the inline plot) and their
rendering through one jinja2 template, ``templates/report.html.j2``.

Autoescaping is on: every label that comes from a study (arm names, settings, errors) is shown as text, never as
markup; only the page's own fixed sentences and plotly's output are passed as :class:`markupsafe.Markup`."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field

import pandas as pd
from markupsafe import Markup

from vlpet.analysis.formatting import number, setting_labels
from vlpet.analysis.rendering import LABEL_COLUMNS, Cell

# Column headers as a reader says them.
HEADERS = {"trainable_pct": "trainable %", "trainable_params": "trainable params", "n": "seeds",
           "wall_s": "wall time (s)", "cpu_hours": "CPU-hours", "gpu_hours": "GPU-hours", "trial_id": "trial",
           "sampled": "configuration", "setting": "setting", "adapter_bytes": "adapter bytes", "p_holm": "p (Holm)",
           "p_value": "p", "budget_target": "budget target", "mean_front": "front mean",
           "mean_dominated": "dominated mean", "ci_low": "CI low", "ci_high": "CI high", "budget_unit": "unit",
           "cpu_hours_spent": "CPU-hours"}


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    note: str = ""
    sortable: bool = True
    kind: str = "table"


@dataclass
class Image:
    """A PNG embedded in the page (``data:`` URI), with a link to its file beside the page."""

    source: str
    name: str
    alt: str
    kind: str = "image"


@dataclass
class Plot:
    """Plotly's ``<div>`` of an interactive figure (plotly.js itself is inlined once in the page's head)."""

    html: Markup
    kind: str = "plot"


@dataclass
class Row:
    """Blocks shown side by side where the page is wide enough, one under the other where it is not."""

    blocks: list
    kind: str = "row"


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    anchor: str = ""
    level: int = 2


def image(path: str, name: str, alt: str) -> Image:
    with open(path, "rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    return Image(f"data:image/png;base64,{data}", name, alt)


def _cell(value, column: str, text: str | None = None) -> Cell:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    text = number(value, column) if text is None else text
    return Cell(text, "number" if numeric else "factor", value=float(value) if numeric else text)


def frame_table(frame: pd.DataFrame, columns: list[str], names: dict[str, str] | None = None, note: str = "",
                sortable: bool = True) -> Table:
    """The ``columns`` of ``frame`` that it has, as formatted cells in the frame's row order (configuration labels
    readable, numbers as :func:`vlpet.analysis.formatting.number` writes them for each column)."""
    names = {**HEADERS, **(names or {})}
    columns = [c for c in columns if c in frame.columns]
    labels = {c: setting_labels(list(frame[c])) for c in columns
              if c in LABEL_COLUMNS or frame[c].map(lambda v: isinstance(v, str)).any()}
    rows = [[_cell(row[c], c, labels[c][i] if c in labels else None) for c in columns]
            for i, (_, row) in enumerate(frame.iterrows())]
    return Table([names.get(c, c) for c in columns], rows, note, sortable)


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("vlpet.analysis", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@functools.lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """plotly.js as shipped with the plotly package, inlined so that the page works offline (no CDN)."""
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())


def render_page(sections: list[Section], **context) -> str:
    """The report page's HTML: ``sections`` below a header with the study's ``status`` block."""
    with_plot = any(b.kind == "plot" or (b.kind == "row" and any(c.kind == "plot" for c in b.blocks))
                    for s in sections for b in s.blocks)
    return _environment().get_template("report.html.j2").render(
        sections=sections, plotly_js=plotly_js() if with_plot else "", **context)
