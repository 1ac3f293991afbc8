"""Numbers and configuration labels as a reader wants them: one place that decides, used by the report page, the
Markdown/LaTeX tables and the plots alike.

Accuracies (and every task metric) get two decimals, learning rates ``3.0e-3``, parameter counts thousands
separators, percentages two decimals. :func:`scientific` is the study layer's (vlpet.study.formatting), so the
progress lines and the dashboard's trial labels write learning rates as the report does."""

from __future__ import annotations

import math
import re

from vlpet.study.formatting import scientific

SCIENTIFIC = {"lr", "learning_rate", "weight_decay", "eps", "adam_eps", "min_lr", "max_lr"}
COUNTS = {"trainable_params", "total_params", "quantised_params", "adapter_bytes", "n", "step", "epoch", "trials",
          "total_steps", "seeds", "configurations", "bottleneck", "seed", "seeds_finished"}
PLAIN = {"p", "p_value", "p_holm", "p_raw"}
SETTING_NUMBER = re.compile(r"\b([A-Za-z_][\w.]*)=(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?=[,;) ]|$)")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value, key: str = "", digits: int = 2) -> str:
    """``value`` of column ``key`` for reading: ``–`` where missing, lr-like keys in scientific notation, counts with
    thousands separators, percentages, metrics and hours with ``digits`` decimals, p-values to 3 significant digits.
    Non-numbers come back as text."""
    if _missing(value):
        return "–"
    if not _number(value):
        return str(value)
    name = str(key).rsplit(".", 1)[-1]
    if name in SCIENTIFIC or name.endswith("_lr"):
        return scientific(float(value), digits)
    if name in COUNTS or (isinstance(value, int) and not name.endswith(("_pct", "_hours"))):
        return f"{int(round(value)):,}"
    if name in PLAIN or name.startswith("p_"):
        return f"{value:.3g}"
    if name.endswith("_s"):                         # seconds: a tenth is all the precision a reader wants
        return f"{value:,.1f}"
    if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6) and not _decimal_column(name):
        return scientific(float(value), digits)
    return f"{value:,.{digits}f}"


def _decimal_column(name: str) -> bool:
    """Columns always shown with fixed decimals: metrics, shares, hours, seconds, intervals."""
    return (name.endswith(("_acc", "_pct", "_hours", "_s", "_mean", "_std", "_ci_low", "_ci_high", "_best"))
            or name in {"metric", "cider", "mean", "std", "ci_low", "ci_high", "best", "runner_up", "gap"}
            or name.startswith(("test_", "metric")))


def setting_value(key: str, text: str, digits: int = 2) -> str:
    """One ``key=value`` part of a configuration label: a number written as :func:`number` writes it."""
    try:
        value = float(text)
    except ValueError:
        return text
    if math.isnan(value) or value.is_integer() and key not in SCIENTIFIC:
        return text
    if key in SCIENTIFIC or key.endswith("_lr") or (value != 0 and abs(value) < 1e-2):
        return scientific(value, digits)
    return f"{value:.{digits + 1}g}"


def setting_label(text, digits: int = 2) -> str:
    """Every ``key=number`` in a configuration label written for reading: ``lr=0.003488960745139224,
    granularity=large`` -> ``lr=3.5e-3, granularity=large``; ``vl-pet (lr=0.0011)`` -> ``vl-pet (lr=1.1e-3)``."""
    if _missing(text):
        return "–"
    return SETTING_NUMBER.sub(lambda m: f"{m[1]}={setting_value(m[1], m[2], digits)}", str(text))


def setting_labels(texts: list) -> list[str]:
    """:func:`setting_label` of each text, with as many digits as it takes for distinct settings to keep distinct
    labels (two learning rates that round alike get a third digit)."""
    distinct = len({str(t) for t in texts})
    for digits in range(2, 18):
        labels = [setting_label(t, digits) for t in texts]
        if len(set(labels)) >= distinct:
            return labels
    return [str(t) for t in texts]
