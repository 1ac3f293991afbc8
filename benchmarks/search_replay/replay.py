"""Search efficiency (issue 15 item 5): search strategies replayed over one recorded grid study, no training.

Each strategy (benchmarks.search_replay.strategies) is replayed on the recorded quickstart grid
(``grid_quickstart.csv``) by a simulated Tune controller (benchmarks.search_replay.simulate) whose clock counts
compute seconds, 20 times with different sampler seeds. After every configuration that finishes all its seeds,
the hypervolume of the finished seed-mean frontier (vlpet.analysis.pareto.hypervolume: metric max,
trainable_pct min) is taken against the compute spent so far. Reported: the hypervolume curves (median and
quartiles over the repetitions, as fractions of the whole grid's hypervolume) and the compute each strategy needs
to reach 95% of it. The reference point is the grid's nadir (its worst seed-mean metric and largest trainable %)
moved out by one unit of each.

Targets: vlpet's default reaches 95% of the grid's hypervolume with at most a third of the grid's compute, and
with at least 1.5x less compute than the anchor (Ray Tune + OptunaSearch NSGA-II + plain ASHA, seeds as
independent trials).
"""

from __future__ import annotations

import os
import statistics
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.search_replay.simulate import Progress, Replay
from benchmarks.search_replay.strategies import MAX_CONCURRENT, STRATEGIES, build, restrict
from benchmarks.search_replay.table import Recorded

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "grid_quickstart.csv")
STUDY = os.path.join(HERE, "grid_quickstart.yaml")
OBJECTIVES = {"metric": "max", "trainable_pct": "min"}
FRACTION = 0.95
REPETITIONS = {"full": 20, "quick": 5, "tiny": 2}
SLICE = {"tiny": 2}                       # the harness test replays a 2-configuration slice of the table
CURVE_POINTS = 101
DEFAULTS = ("vlpet_nsga2", "vlpet_tpe")          # vlpet's default study with either sampler


def hypervolume(means: dict[str, tuple[float, float]], reference: dict[str, float]) -> float:
    """The platform's hypervolume of configurations' seed means ``{config: (metric, trainable_pct)}``."""
    from vlpet.analysis.pareto import hypervolume as pareto_hypervolume

    if not means:
        return 0.0
    frame = pd.DataFrame([{"config_key": c, "metric": m, "trainable_pct": p, "finished": True,
                           "complete_group": True} for c, (m, p) in means.items()])
    return pareto_hypervolume(frame, OBJECTIVES, reference)


def grid_means(table: Recorded) -> dict[str, tuple[float, float]]:
    seeds = table.seeds
    return {c: (statistics.fmean(table.final(c, s).metric for s in seeds),
                statistics.fmean(table.final(c, s).trainable_pct for s in seeds)) for c in table.configs}


def reference_point(table: Recorded) -> dict[str, float]:
    means = grid_means(table).values()
    return {"metric": min(m for m, _ in means) - 1.0, "trainable_pct": max(p for _, p in means) + 1.0}


def replay(name: str, spec, table: Recorded, seed: int, cap: float) -> Progress:
    searcher, scheduler, samples = build(name, spec, table, seed)
    return Replay(table, searcher, scheduler, MAX_CONCURRENT, samples, compute_cap=cap).run()


def hv_curve(progress: Progress, reference: dict[str, float], whole: float) -> list[tuple[float, float]]:
    """(compute spent, hypervolume as a fraction of the grid's) after each finished configuration."""
    return [(spent, hypervolume(means, reference) / whole) for spent, means in progress.curve]


def compute_to_reach(curve: list[tuple[float, float]], fraction: float) -> float | None:
    return next((spent for spent, hv in curve if hv >= fraction - 1e-12), None)


def on_grid(curve: list[tuple[float, float]], xs: np.ndarray) -> np.ndarray:
    """The step function of ``curve`` (0 before the first finished configuration) at compute values ``xs``."""
    out = np.zeros(len(xs))
    for spent, hv in curve:
        out[xs >= spent] = np.maximum(out[xs >= spent], hv)
    return out


def summarise(needs: list[float | None], total: float) -> dict[str, Any]:
    """Median (a repetition that never got there counts as infinite) and quartiles of compute to 95%."""
    values = sorted(v if v is not None else float("inf") for v in needs)
    middle = values[(len(values) - 1) // 2: len(values) // 2 + 1]
    median = statistics.fmean(middle) if all(np.isfinite(middle)) else float("inf")
    return {"compute_s": needs, "reached": sum(v is not None for v in needs), "repetitions": len(needs),
            "median_s": _finite(median), "q25_s": _finite(_rank(values, 0.25)), "q75_s": _finite(_rank(values, 0.75)),
            "median_fraction_of_grid": median / total if np.isfinite(median) else None}


def _rank(values: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted ``values`` (no interpolation, so an infinite one stays infinite)."""
    return values[min(len(values) - 1, max(0, int(np.ceil(q * len(values))) - 1))]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def load(scale: str) -> tuple[Any, Recorded]:
    from vlpet.study.spec import load_study

    table = Recorded.from_csv(TABLE, configs=SLICE.get(scale))
    spec = load_study(STUDY)
    return (restrict(spec, table) if scale in SLICE else spec), table


def benchmark(scale: str = "full", strategies: tuple[str, ...] = STRATEGIES) -> dict[str, Any]:
    """Every strategy over ``REPETITIONS[scale]`` sampler seeds: curves, compute to 95%, runs' counts."""
    spec, table = load(scale)
    reference, total = reference_point(table), table.total_compute_s
    whole = hypervolume(grid_means(table), reference)
    xs = np.linspace(0.0, total, CURVE_POINTS)
    results: dict[str, Any] = {}
    for name in strategies:
        curves, needs, runs = [], [], []
        for repetition in range(REPETITIONS[scale]):
            progress = replay(name, spec, table, seed=1000 + repetition, cap=total)
            curve = hv_curve(progress, reference, whole)
            curves.append(on_grid(curve, xs))
            needs.append(compute_to_reach(curve, FRACTION))
            runs.append({"trials": progress.trials, "stopped": progress.stopped, "paused": progress.paused,
                         "configurations": progress.configurations, "retrained": progress.retrained,
                         "spent_s": progress.spent, "final_hv_fraction": curve[-1][1] if curve else 0.0})
        stack = np.vstack(curves)
        results[name] = {**summarise(needs, total), "runs": runs, "curve": {
            "median": np.median(stack, axis=0).tolist(), "q25": np.percentile(stack, 25, axis=0).tolist(),
            "q75": np.percentile(stack, 75, axis=0).tolist()}}
    return {"table": {"configurations": len(table.configs), "seeds": table.seeds,
                      "evaluations_per_trial": max(len(e) for e in table.runs.values()),
                      "grid_compute_s": total, "grid_hypervolume": whole, "reference_point": reference},
            "compute_axis_s": xs.tolist(), "fraction": FRACTION, "repetitions": REPETITIONS[scale],
            "max_concurrent": MAX_CONCURRENT, "strategies": results}


def targets(figures: dict[str, Any], where: str) -> list[dict[str, Any]]:
    from benchmarks.common import target

    total = figures["table"]["grid_compute_s"]
    strategies = figures["strategies"]
    anchor = strategies.get("anchor", {}).get("median_s")
    marks = []
    for name in DEFAULTS:
        if name not in strategies:
            continue
        mine = strategies[name]["median_s"]
        marks.append(target(f"{name}: compute to 95% of the grid's hypervolume / the grid's compute",
                            mine / total if mine is not None else None, "<=", 1 / 3, where,
                            "median over repetitions; a repetition that never reaches 95% counts as infinite"))
        note = "anchor: Ray Tune OptunaSearch NSGA-II + plain ASHA, seeds as independent trials"
        speedup = anchor / mine if mine and anchor else None
        if mine and anchor is None:     # the anchor never got there within the grid's compute: a lower bound
            speedup, note = total / mine, note + "; the anchor's median never reached 95% within the grid's " \
                                                 "compute, so the figure is a lower bound (grid compute / this one's)"
        marks.append(target(f"anchor's compute to 95% / {name}'s", speedup, ">=", 1.5, where, note))
    return marks


def run(settings) -> dict[str, Any]:
    """The harness entry (benchmarks.run): the replay at the settings' scale (tiny: a 2-configuration slice)."""
    figures = benchmark(settings.scale)
    table = figures["table"]
    where = (f"{table['configurations']} configurations x {len(table['seeds'])} seeds, "
             f"{figures['repetitions']} repetitions ({settings.scale})")
    return {"figures": figures, "notes": " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "),
            "targets": targets(figures, where)}
