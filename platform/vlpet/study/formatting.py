"""Numbers and times as the study's displays write them: the progress lines, the trials' dashboard labels and
the report page (vlpet.analysis.formatting builds on these; the study layer does not import the analysis)."""

from __future__ import annotations


def scientific(value: float, digits: int = 2) -> str:
    """``0.003488`` -> ``3.5e-3`` (``digits`` significant digits, no padded or signed exponent)."""
    mantissa, exponent = f"{value:.{max(digits - 1, 1)}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def duration(seconds: float) -> str:
    """``41 s``, ``2 min 13 s``, ``1 h 05 min`` (a negative time counts as 0 s)."""
    seconds = int(round(max(seconds, 0)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
