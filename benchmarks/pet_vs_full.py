"""(1) PET vs full fine-tuning: train-step time and peak memory of each method, as ratios to full fine-tuning
measured in the same run, on a BART-sized and a T5-sized model (random weights).

Each variant runs in its own fresh process, so its peak (CPU: getrusage maxrss; CUDA: max_memory_allocated)
is its own. Every method uses its trial defaults (r, placement, trainable norms, lr), as a trial would.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import (Settings, build_step, current_rss_bytes, device_sync, in_child, interleaved,
                               maxrss_bytes, peak_memory, ratio, reset_peak_memory, set_threads, settings_from, target,
                               trial_config)

VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"method": "full"},
    "vl-pet-small": {"method": "vl-pet", "granularity": "small"},
    "vl-pet-middleX": {"method": "vl-pet", "granularity": "middleX"},
    "vl-pet-middleY": {"method": "vl-pet", "granularity": "middleY"},
    "vl-pet-large": {"method": "vl-pet", "granularity": "large"},
    "lora": {"method": "lora"},
    "adapter": {"method": "adapter"},
}


def measure_variant(settings: dict[str, Any], backbone: str, variant: str) -> dict[str, Any]:
    """In a fresh process: build the variant, time its training step, read the process's memory peak."""
    from vlpet.pet.budget import count_parameters

    settings = settings_from(settings)
    threads = set_threads(settings)
    rss_before = current_rss_bytes()
    reset_peak_memory(settings.device)
    config = trial_config(backbone, VARIANTS[variant], settings.size)
    step = build_step(config, settings.device, settings.size)
    times = interleaved({"step": step}, settings.repeats, settings.warmups, device_sync(settings.device))["step"]
    budget = count_parameters(step.model)
    return {"step_s": times, "peak_mem_bytes": peak_memory(settings.device), "rss_before_build_bytes": rss_before,
            "getrusage_maxrss_bytes": maxrss_bytes(),
            "trainable_params": budget.trainable_params, "trainable_pct": budget.trainable_pct, "torch_threads": threads}


def compare_backbone(settings: Settings, backbone: str) -> dict[str, Any]:
    """Every variant on one backbone, with ratios to full fine-tuning."""
    rows = {name: in_child("benchmarks.pet_vs_full:measure_variant", settings=settings.as_dict(),
                           backbone=backbone, variant=name) for name in VARIANTS}
    full = rows["full"]
    for row in rows.values():
        row["step_ratio"] = ratio(row["step_s"]["median"], full["step_s"]["median"])
        row["mem_ratio"] = ratio(row["peak_mem_bytes"], full["peak_mem_bytes"])
    return rows


def run(settings: Settings) -> dict[str, Any]:
    size = settings.size
    figures = {backbone: compare_backbone(settings, backbone) for backbone in size.backbones}
    large = figures[size.backbones[0]]["vl-pet-large"]
    where = f"{size.backbones[0]}, batch {size.batch}, {size.text_tokens}+{size.visual_tokens} tokens in"
    memory = "peak CUDA memory allocated" if settings.device.startswith("cuda") else "process peak RSS"
    return {"figures": figures,
            "notes": f"median step seconds of {settings.repeats} steps after {settings.warmups} warm-ups; memory: "
                     f"{memory}, one fresh process per variant; ratios to full fine-tuning of the same run",
            "targets": [target("vl-pet-large step time / full fine-tuning", large["step_ratio"], "<=", 0.70, where),
                        target("vl-pet-large peak memory / full fine-tuning", large["mem_ratio"], "<=", 0.60,
                               where)]}
