"""The model card (``README.md``) of an export: why this adapter, in numbers taken from the analysis frame."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def evidence(frame: pd.DataFrame, row: pd.Series, study_dir: str) -> dict[str, Any]:
    """The chosen trial's configuration evidence: validation and test metrics as mean ± 95% CI over its
    configuration's finished seeds, the paired comparison with the runner-up, compute and ids."""
    from vlpet.analysis.compare import compare, configuration_keys, configuration_labels, mean_interval
    from vlpet.analysis.results import finished

    done = finished(frame, include_partial=True)
    seeds = done[done["config_key"] == row["config_key"]]
    metrics = {}
    for column in ("metric", "test_metric"):
        if column in seeds and seeds[column].notna().any():
            low, high = mean_interval(seeds[column])
            metrics[column] = {"mean": float(seeds[column].mean()), "ci95": [low, high],
                               "n": int(seeds[column].notna().sum()), "per_seed": _per_seed(seeds, column)}
    labels = dict(zip(configuration_keys(done), configuration_labels(done)))
    label = labels.get(f"{row['study']}:{row['config_key']}", str(row["config_key"]))
    return {"study": row["study"], "study_dir": study_dir, "trial_id": row["trial_id"], "seed": _plain(row["seed"]),
            "config_key": row["config_key"], "label": label, "metric_name": row.get("metric_name"),
            "seed_trials": sorted(map(str, seeds["trial_id"])), "metrics": metrics,
            "runner_up": _runner_up(done, label, compare),
            "cpu_hours": _sum(seeds, "cpu_hours"), "gpu_hours": _sum(seeds, "gpu_hours"),
            "budget": {k: _plain(row.get(k)) for k in ("trainable_params", "total_params", "trainable_pct",
                                                       "adapter_bytes") if k in row and _plain(row.get(k)) is not None}}


def _per_seed(seeds: pd.DataFrame, column: str) -> dict[str, float]:
    return {str(int(s)): float(v) for s, v in zip(seeds["seed"], seeds[column]) if pd.notna(v)}


def _runner_up(done: pd.DataFrame, label: str, compare) -> dict[str, Any] | None:
    """The paired comparison (over shared seeds) of the best other configuration with this one, on the reported
    column (test where the trials were tested)."""
    from vlpet.analysis.results import reported_column

    if done["config_key"].nunique() < 2:
        return None
    column = reported_column(done, "metric")
    table = compare(done, column, baseline=label)
    if table.empty:
        return None
    first = table.iloc[0]
    return {"metric": column, "runner_up": first["a"], "n": int(first["n"]), "diff": _plain(first["diff"]),
            "ci": [_plain(first["ci_low"]), _plain(first["ci_high"])], "p_holm": _plain(first["p_holm"]),
            "verdict": first["verdict"], "note": first["note"] or ""}


def _sum(frame: pd.DataFrame, column: str) -> float | None:
    return float(frame[column].sum()) if column in frame and frame[column].notna().any() else None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _interval(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    low, high = entry["ci95"]
    ci = f"[{low:.4f}, {high:.4f}]" if low is not None and not math.isnan(low) else "(one seed: no interval)"
    return f"{entry['mean']:.4f}, 95% CI {ci}, n = {entry['n']}"


def render(described: dict[str, Any], files: dict[str, int], command: str) -> str:
    """The README.md text: what the directory holds, how to load it, and the evidence."""
    found, config = described.get("evidence") or {}, described["trial_config"]
    lines = [f"# vlpet adapter: {config['method']} on {config['backbone']} ({config['task']})", "",
             f"Layout: **{described['layout']}** ({_LAYOUT_NOTE[described['layout']]}).", "", "## Load it", "",
             "```python", _LOAD[described["layout"]], "```", "",
             "Predict a split in the task's official format: `vlpet predict THIS_DIR --task "
             f"{config['task']} --split test --out predictions.json`.", "", "## Files", ""]
    lines += [f"- `{name}`: {size:,} bytes" for name, size in sorted(files.items())]
    lines += ["", "## Configuration", "", "```json", described["trial_config_json"], "```", "", "## Budget", ""]
    budget = found.get("budget") or described.get("budget") or {}
    lines += [f"- {key}: {value}" for key, value in budget.items()]
    lines += [f"- adapter files: {described['adapter_bytes']:,} bytes"]
    lines += ["", "## Evidence", ""]
    if not found:
        lines += ["Exported from a single run (no study): no seeds to summarise.",
                  f"Final metrics: {described.get('metrics') or '–'}"]
    else:
        metrics = found["metrics"]
        lines += [f"- study `{found['study']}` ({found['study_dir']}), configuration `{found['label']}` "
                  f"(config_key {found['config_key']}), exported trial `{found['trial_id']}` (seed {found['seed']})",
                  f"- seeds' trials: {', '.join(found['seed_trials'])}",
                  f"- validation {found.get('metric_name') or 'metric'}: {_interval(metrics.get('metric'))}",
                  f"- test {found.get('metric_name') or 'metric'}: {_interval(metrics.get('test_metric'))}",
                  f"- compute: {_hours(found['cpu_hours'])} CPU-hours, {_hours(found['gpu_hours'])} GPU-hours "
                  "(all seeds of the configuration)"]
        lines += [_runner_up_line(found.get("runner_up"))]
    lines += ["", "## Reproduce", "", "```bash", command,
              "vlpet train trial_config.json --out runs/reproduce   # this seed, from scratch", "```", ""]
    return "\n".join(lines)


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _runner_up_line(found: dict[str, Any] | None) -> str:
    if not found:
        return "- runner-up: none (the study has one configuration)"
    low, high = found["ci"]
    interval = f"[{low:.4f}, {high:.4f}]" if low is not None else "no interval"
    p = "–" if found["p_holm"] is None else f"{found['p_holm']:.3g}"
    return (f"- runner-up `{found['runner_up']}` on {found['metric']} minus this one, paired over {found['n']} "
            f"shared seed(s): {found['diff']:+.4f}, 95% CI {interval}, Holm p {p}: {found['verdict']} "
            f"{('(' + found['note'] + ')') if found['note'] else ''}".rstrip())


_LAYOUT_NOTE = {
    "peft": "PEFT's adapter_config.json + adapter_model.safetensors over the Hugging Face backbone; "
            "vlpet_extra.safetensors holds the visual projector and any other trained tensor PEFT's file does not",
    "native": "pet.safetensors holds every trained tensor by vlpet parameter name, with the method and trial "
              "config in its metadata",
}
_LOAD = {
    "peft": "import vlpet\nmodel = vlpet.load_adapter(THIS_DIR)          # the VL model, PEFT-loaded\n"
            "# PEFT alone, on the Hugging Face backbone (the VL parts: vlpet_extra.safetensors):\n"
            "# from peft import PeftModel; PeftModel.from_pretrained(base_backbone, THIS_DIR)",
    "native": "import vlpet\nmodel = vlpet.load_adapter(THIS_DIR, backbone=None)  # or another copy of the base",
}
