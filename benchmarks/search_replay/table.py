"""The recorded grid study as a small table, and the table as the replay reads it.

One row per evaluation of every (configuration, seed) of a grid study run with no early stopping:
``config`` (the sampled configuration as sorted JSON, exactly what the searchers suggest), ``seed``,
``evaluation`` (1, 2, ...), ``step``, ``metric`` (validation, the study's primary objective), ``trainable_pct``,
``elapsed_s`` (the trial's recorded wall seconds since it started, as stored) and ``compute_s`` (the cumulative
compute the replay's clock charges up to this evaluation, see :func:`charged_compute`).
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

from vlpet.study.recovery import configuration_id

COLUMNS = ("config", "seed", "evaluation", "step", "metric", "trainable_pct", "elapsed_s", "compute_s", "finished")


def study_rows(study_dir: str) -> list[dict[str, Any]]:
    """Every stored evaluation of a study (vlpet's own store), oldest first per trial."""
    from vlpet.analysis.results import sources

    [source] = sources([study_dir])
    return [row for row in source.store.evaluations() if row.get("metric") is not None]


def charged_compute(rows: list[dict[str, Any]]) -> dict[tuple[str, int, int], float]:
    """Cumulative compute seconds the replay charges at each (config, seed, step): training steps at the seconds
    per step of the configuration's model, plus one validation evaluation at the table's median evaluation time
    (the wall time of a segment beyond its training steps, over the segments that neither start a trial nor end
    it). A model's seconds per step is the median, over the trials that build it (the configurations that differ
    only in ``lr``, and their seeds), of each trial's fastest segment (``train_step_s`` is a segment's mean): load
    from other processes on a shared machine only ever adds time, so a burst over part of a trial, or over one
    configuration, does not make a model look dear. Process start-up and the final held-out test are not
    charged: no search strategy's decision depends on them."""
    fastest: dict[str, float] = {}
    for row in rows:
        trial = str(row["trial_id"])
        fastest[trial] = min(fastest.get(trial, float("inf")), float(row["train_step_s"]))
    by_model: dict[str, dict[str, float]] = {}
    for row in rows:
        by_model.setdefault(_model(row), {})[str(row["trial_id"])] = fastest[str(row["trial_id"])]
    per_step = {_config(row): statistics.median(by_model[_model(row)].values()) for row in rows}
    overheads = []
    for previous, row in _segments(rows):
        if previous is not None and not row.get("finished"):
            train = (row["step"] - previous["step"]) * float(row["train_step_s"])
            overheads.append(max(0.0, row["elapsed_s"] - previous["elapsed_s"] - train))
    evaluation_s = statistics.median(overheads) if overheads else 0.0
    charged, totals = {}, {}
    for previous, row in _segments(rows):
        trial = (_config(row), int(row["seed"]))
        steps = row["step"] - (previous["step"] if previous else 0)
        totals[trial] = totals.get(trial, 0.0) + steps * per_step[trial[0]] + evaluation_s
        charged[(*trial, int(row["step"]))] = totals[trial]
    return charged


def _config(row: dict[str, Any]) -> str:
    return configuration_id(dict(row.get("sampled") or {}))


def _model(row: dict[str, Any]) -> str:
    """The configuration without its learning rate: what decides the cost of a step."""
    return configuration_id({k: v for k, v in (row.get("sampled") or {}).items() if k != "lr"})


def _segments(rows: list[dict[str, Any]]) -> Iterable[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """(previous evaluation of the same trial or None, evaluation), in step order per trial."""
    by_trial: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_trial.setdefault(str(row["trial_id"]), []).append(row)
    for trial_rows in by_trial.values():
        trial_rows.sort(key=lambda r: r["step"])
        yield from zip([None, *trial_rows[:-1]], trial_rows)


def table_from_study(study_dir: str) -> list[dict[str, Any]]:
    """The table of a recorded grid study (rows sorted by configuration, seed and step)."""
    rows = study_rows(study_dir)
    charged = charged_compute(rows)
    table = []
    for previous, row in _segments(rows):
        config, seed, step = _config(row), int(row["seed"]), int(row["step"])
        evaluation = 1 if previous is None else table[-1]["evaluation"] + 1
        table.append({"config": config, "seed": seed, "evaluation": evaluation, "step": step,
                      "metric": float(row["metric"]), "trainable_pct": float(row["trainable_pct"]),
                      "elapsed_s": round(float(row["elapsed_s"]), 2),
                      "compute_s": round(charged[(config, seed, step)], 2), "finished": bool(row.get("finished"))})
    return sorted(table, key=lambda r: (r["config"], r["seed"], r["step"]))


def write_table(table: list[dict[str, Any]], path: str) -> str:
    """Write the table as CSV, whole (a temporary file beside it, then renamed)."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    os.replace(temporary, path)
    return path


@dataclass(frozen=True)
class Evaluation:
    step: int
    metric: float
    trainable_pct: float
    compute_s: float                     # cumulative, since the trial started
    finished: bool


class Recorded:
    """The table as the replay reads it: ``runs[(config id, seed)]`` = that seed's evaluations in order."""

    def __init__(self, rows: Iterable[dict[str, Any]]):
        self.runs: dict[tuple[str, int], list[Evaluation]] = {}
        for row in sorted(rows, key=lambda r: (r["config"], int(r["seed"]), int(r["step"]))):
            key = (configuration_id(json.loads(row["config"])), int(row["seed"]))
            self.runs.setdefault(key, []).append(Evaluation(
                int(row["step"]), float(row["metric"]), float(row["trainable_pct"]), float(row["compute_s"]),
                str(row["finished"]).lower() in ("true", "1")))
        self.configs = sorted({config for config, _ in self.runs})
        self.seeds = sorted({seed for _, seed in self.runs})
        incomplete = [key for key, evals in self.runs.items() if not evals[-1].finished]
        missing = [(c, s) for c in self.configs for s in self.seeds if (c, s) not in self.runs]
        if incomplete or missing:
            raise ValueError(f"the table is not a complete grid: unfinished {incomplete[:3]}, missing {missing[:3]}")

    @classmethod
    def from_csv(cls, path: str, configs: int | None = None) -> "Recorded":
        """Read a table; ``configs`` keeps only the first N configurations (a slice for a quick check)."""
        with open(path, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if configs is not None:
            keep = sorted({row["config"] for row in rows})[:configs]
            rows = [row for row in rows if row["config"] in keep]
        return cls(rows)

    def config(self, config_id: str) -> dict[str, Any]:
        return json.loads(config_id)

    def final(self, config_id: str, seed: int) -> Evaluation:
        return self.runs[(config_id, seed)][-1]

    @property
    def total_compute_s(self) -> float:
        """What the grid spends: every configuration x seed to its full budget."""
        return sum(evals[-1].compute_s for evals in self.runs.values())
