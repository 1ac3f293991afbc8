"""Paired comparisons of configurations over the seeds they share.

Configurations of one study are run with the same seeds, so their per-seed results are paired: ``compare`` tests
the per-seed differences (scipy.stats), one row per compared pair, Holm-corrected over the rows it returns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from vlpet.analysis.results import columns_exist, finished
from vlpet.errors import ConfigError

TESTS = ("t", "wilcoxon", "bootstrap")
MODES = ("max", "min")
RESAMPLES = 9999        # bootstrap and sign-flip resamples; with n <= 13 seeds the sign-flip test is exact
COLUMNS = ["a", "b", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value", "p_holm", "verdict", "note"]
SINGLE_SEED = "single seed: no test"
NO_SHARED_SEED = "no shared seed: no test"
IDENTICAL = "identical on every seed"
CONSTANT = "constant difference (zero variance)"


def compare(frame: pd.DataFrame, metric: str, baseline: str | None = None, test: str = "t", alpha: float = 0.05,
            mode: str = "max", by: list[str] | None = None) -> pd.DataFrame:
    """Every configuration against ``baseline`` (a label or config_key; default: the best by seed mean of
    ``metric`` in ``mode``), paired on the seeds both have. One row per pair, best ``a`` first:

    ``a``, ``b`` (labels; ``b`` is the baseline), ``n`` (shared seeds), ``mean_a``, ``mean_b`` (over those seeds),
    ``diff`` (mean of a − b), ``ci_low``, ``ci_high`` (the 1 − ``alpha`` interval of the mean difference),
    ``p_value`` (two-sided), ``p_holm`` (Holm over the tested rows), ``verdict`` (a is ``better``/``worse`` than b
    at ``p_holm < alpha``, else ``tied``; ``no test`` below two shared seeds) and ``note``.

    ``test``: ``t`` is scipy's paired t-test with its t interval; ``wilcoxon`` the signed-rank test (zero
    differences dropped, exact p for small n) with the paired bootstrap percentile interval of the mean
    difference; ``bootstrap`` that same interval with the exact (n <= 13) or Monte Carlo sign-flip permutation
    p-value of the mean difference. Resampling is seeded, so results repeat.

    Rows: ``finished`` ones only where the column exists, the last (by ``step``) of each (configuration, seed).
    A configuration is ``(study, config_key)``, labelled by :func:`configuration_labels`; ``by`` names other
    columns that form the compared units instead (their per-seed values are averaged), labelled by their values.
    Pairs with fewer than two shared seeds get no test (NaN p and interval, a note). Pairs identical on every
    seed get diff 0, interval [0, 0] and p 1.0 (no evidence of a difference) without calling a test."""
    _check(test, alpha, mode)
    values, labels = seed_values(frame, metric, by)
    if values.shape[1] == 0:
        raise ConfigError(f"no finished row has a value of {metric!r}: nothing to compare")
    means = values.mean()
    # ties in the mean are broken by label, so the baseline never depends on the order trials were recorded in
    order = sorted(values.columns, key=lambda key: (-means[key] if mode == "max" else means[key], str(labels[key])))
    base = order[0] if baseline is None else _find(baseline, labels)
    rows = [{"a": labels[key], "b": labels[base], **paired(values[key], values[base], test, alpha)}
            for key in order if key != base]
    result = pd.DataFrame(rows, columns=COLUMNS)
    result["p_holm"] = holm(result["p_value"].to_numpy(float))
    result["verdict"] = [verdict(d, p, alpha, mode) for d, p in zip(result["diff"], result["p_holm"])]
    return result


def _check(test: str, alpha: float, mode: str) -> None:
    if test not in TESTS:
        raise ConfigError(f"test {test!r} is not allowed; allowed: {', '.join(TESTS)}")
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not allowed; allowed: max (higher is better), min")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1 (e.g. 0.05 for 95% intervals), got {alpha}")


def _find(baseline: str, labels: dict[str, str]) -> str:
    """The key of the configuration whose label or key is ``baseline``."""
    for key, label in labels.items():
        if baseline in (label, key, key.rpartition(":")[2]):
            return key
    known = ", ".join(sorted(labels.values()))
    raise ConfigError(f"baseline {baseline!r} is not a configuration here; labels: {known}")


def seed_values(frame: pd.DataFrame, metric: str, by: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Seeds x units: each unit's final finished value of ``metric`` per seed (NaN where it has none), and
    ``{unit key: label}``. Units are configurations (keys from :func:`configuration_keys`) or ``by`` groups."""
    columns_exist(frame, ["config_key", "seed", metric, *(by or [])], "compare")
    rows = finished(frame) if "finished" in frame and not frame.empty else frame
    rows = rows[rows[metric].notna() & rows["seed"].notna()]
    if "step" in rows:
        rows = rows.sort_values("step", kind="stable")
    keys = configuration_keys(rows)
    # The final row of each (configuration, seed): a per-evaluation frame holds a trial's every evaluation.
    rows = rows[~pd.DataFrame({"key": keys, "seed": rows["seed"]}).duplicated(keep="last")]
    if by:
        keys = unit_labels(rows, by)
        labels = {key: key for key in keys}
    else:
        keys = configuration_keys(rows)
        labels = dict(zip(keys, configuration_labels(rows)))
    long = pd.DataFrame({"key": keys.to_numpy(), "seed": rows["seed"].to_numpy(), "value": rows[metric].to_numpy(float)})
    values = long.pivot_table(index="seed", columns="key", values="value", aggfunc="mean", sort=False)
    return values[[key for key in labels if key in values.columns]], labels


def configuration_keys(frame: pd.DataFrame) -> pd.Series:
    """A configuration's id per row: ``config_key``, prefixed ``study:`` where the frame has a study column."""
    keys = frame["config_key"].astype(str)
    return frame["study"].astype(str) + ":" + keys if "study" in frame else keys


def configuration_labels(frame: pd.DataFrame) -> pd.Series:
    """A readable, unique label per row's configuration: the arm and its searched setting, e.g.
    ``vl-pet (granularity=large, lr=0.001)``, prefixed ``study: `` when the frame holds several studies; the
    config_key is appended where that is not unique, and is the label of a frame with no ``arm`` column."""
    keys = configuration_keys(frame)
    if "arm" not in frame:
        return frame["config_key"].astype(str)
    setting = frame["setting"] if "setting" in frame else pd.Series("–", index=frame.index)
    labels = [f"{arm} ({s})" if isinstance(s, str) and s not in ("", "–") else str(arm)
              for arm, s in zip(frame["arm"], setting)]
    if "study" in frame and frame["study"].nunique() > 1:
        labels = [f"{study}: {label}" for study, label in zip(frame["study"], labels)]
    labels = pd.Series(labels, index=frame.index)
    if pd.DataFrame({"label": labels, "key": keys}).groupby("label")["key"].nunique().gt(1).any():
        labels = labels + " [" + frame["config_key"].astype(str) + "]"
    return labels


def unit_labels(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """The label of each row's ``by`` group: its values joined by commas (``–`` for a missing one)."""
    text = frame[by].map(lambda v: "–" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return text.agg(", ".join, axis=1) if len(frame) else pd.Series(dtype=str)


def mean_interval(values: pd.Series, alpha: float = 0.05) -> tuple[float, float]:
    """The 1 − ``alpha`` t interval of the mean of ``values`` (NaN ignored; NaN below two values)."""
    values = values.dropna().to_numpy(float)
    if len(values) < 2:
        return np.nan, np.nan
    if np.ptp(values) == 0:                 # scipy's interval is NaN-prone on zero spread; it is the value itself
        return float(values[0]), float(values[0])
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(confidence_level=1 - alpha)
    return float(interval.low), float(interval.high)


def paired(a: pd.Series, b: pd.Series, test: str = "t", alpha: float = 0.05) -> dict:
    """One pair's row (``n`` … ``p_value``, ``note``) from two per-seed series, paired on the seeds both have."""
    shared = a.notna() & b.notna()
    x, y = a[shared].to_numpy(float), b[shared].to_numpy(float)
    # With no shared seed the means are each side's own, and there is no difference to speak of.
    row = {"n": len(x), "mean_a": float(np.mean(x)) if len(x) else float(a.mean()),
           "mean_b": float(np.mean(y)) if len(y) else float(b.mean()),
           "diff": float(np.mean(x - y)) if len(x) else np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "note": ""}
    differences = x - y
    scale = max(1.0, float(np.max(np.abs(np.concatenate([x, y]))))) if len(x) else 1.0
    if len(x) == 0:
        row["note"] = NO_SHARED_SEED
    elif len(x) == 1:
        row["note"] = SINGLE_SEED
    elif np.all(np.abs(differences) <= 1e-12 * scale):
        # Every test is undefined or trivial here (the t statistic is 0/0): no evidence of any difference.
        row.update(diff=0.0, ci_low=0.0, ci_high=0.0, p_value=1.0, note=IDENTICAL)
    else:
        with warnings.catch_warnings():
            # scipy warns on tiny or degenerate samples (e.g. zero variance); the note says what matters.
            warnings.simplefilter("ignore")
            low, high, p_value = _RUN[test](x, y, alpha)
        row.update(ci_low=float(low), ci_high=float(high), p_value=float(p_value))
        row["note"] = CONSTANT if np.ptp(differences) <= 1e-12 * scale else ""
    return row


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _t_test(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    result = stats.ttest_rel(x, y)
    interval = result.confidence_interval(confidence_level=1 - alpha)
    return interval.low, interval.high, result.pvalue


def _bootstrap_interval(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float]:
    """Percentile interval of the mean difference over seed pairs resampled together (BCa degenerates on a
    handful of seeds)."""
    result = stats.bootstrap((x, y), _mean_difference, paired=True, vectorized=True, n_resamples=RESAMPLES,
                             confidence_level=1 - alpha, method="percentile", rng=np.random.default_rng(0))
    return result.confidence_interval.low, result.confidence_interval.high


def _wilcoxon(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    return (*_bootstrap_interval(x, y, alpha), stats.wilcoxon(x, y).pvalue)


def _bootstrap(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    # permutation_type="samples" swaps a and b within a seed: the sign-flip test of the mean paired difference.
    test = stats.permutation_test((x, y), _mean_difference, permutation_type="samples", vectorized=True,
                                  n_resamples=RESAMPLES, rng=np.random.default_rng(0))
    return (*_bootstrap_interval(x, y, alpha), test.pvalue)


_RUN = {"t": _t_test, "wilcoxon": _wilcoxon, "bootstrap": _bootstrap}


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order; NaN (untested) entries stay NaN and are not
    counted in the family. The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    factors = len(order) - np.arange(len(order))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    return adjusted


def verdict(diff: float, p_holm: float, alpha: float, mode: str = "max") -> str:
    """``better``/``worse`` (a than b, significant at ``p_holm < alpha``), ``tied``, or ``no test``."""
    if np.isnan(p_holm):
        return "no test"
    if p_holm >= alpha:
        return "tied"
    return "better" if (diff > 0) == (mode == "max") else "worse"
