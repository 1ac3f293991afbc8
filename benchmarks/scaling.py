"""(4) Scaling: VL-PET-large training-step time vs the number of visual tokens (batch fixed) and vs the batch size
(visual tokens fixed), on the BART-sized backbone. One model per process; each point is timed on its own batch.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import (Settings, build_step, device_sync, in_child, interleaved, peak_memory, ratio,
                               reset_peak_memory, set_threads, settings_from, synthetic_batch, trial_config)

VISUAL_TOKENS = {"full": (9, 36, 49, 100), "quick": (9, 36, 100), "tiny": (4, 9)}
BATCHES = {"full": (4, 8, 16, 32), "quick": (4, 16), "tiny": (1, 2)}
REPEATS = {"full": 3, "quick": 1, "tiny": 1}          # per point: the curve's shape, not a target, is the figure


def curve(settings: dict[str, Any], backbone: str, axis: str, values: list[int]) -> list[dict[str, Any]]:
    """In a fresh process: step time at each ``axis`` value ("visual_tokens" or "batch")."""
    settings = settings_from(settings)
    set_threads(settings)
    size = settings.size
    config = trial_config(backbone, {"method": "vl-pet", "granularity": "large"}, size)
    step = build_step(config, settings.device, size)
    vocab = step.model.backbone.config.vocab_size
    points = []
    for value in values:
        step.batch = synthetic_batch(vocab, size, **{axis: value})
        reset_peak_memory(settings.device)
        times = interleaved({"step": step}, REPEATS[settings.scale], settings.warmups,
                            device_sync(settings.device))["step"]
        batch = value if axis == "batch" else size.batch
        point = {axis: value, "step_s": times, "per_example_s": times["median"] / batch}
        if settings.device.startswith("cuda"):
            point["peak_mem_bytes"] = peak_memory(settings.device)
        points.append(point)
    return points


def run(settings: Settings) -> dict[str, Any]:
    size = settings.size
    backbone = size.backbones[0]
    figures: dict[str, Any] = {"backbone": backbone}
    for axis, values, reference in (("visual_tokens", VISUAL_TOKENS[settings.scale], size.visual_tokens),
                                    ("batch", BATCHES[settings.scale], size.batch)):
        points = in_child("benchmarks.scaling:curve", settings=settings.as_dict(), backbone=backbone, axis=axis,
                          values=list(values))
        base = next((p["step_s"]["median"] for p in points if p[axis] == reference), points[0]["step_s"]["median"])
        for point in points:
            point["step_ratio"] = ratio(point["step_s"]["median"], base)
        figures[f"vs_{axis}"] = {"fixed": ({"batch": size.batch} if axis == "visual_tokens"
                                           else {"visual_tokens": size.visual_tokens}),
                                 "reference": {axis: reference}, "points": points}
    return {"figures": figures,
            "notes": f"vl-pet-large, {size.text_tokens} text tokens in, {size.target_tokens} out; median of "
                     f"{REPEATS[settings.scale]} steps per point after {settings.warmups} warm-up; step_ratio is "
                     "relative to the reference point (the pet_vs_full shape)",
            "targets": []}
