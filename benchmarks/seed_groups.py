"""(Issue 14) The compute seed-grouped early stopping saves: one study run twice on an embedded local Ray, with
``scheduler: {type: asha}`` (a configuration's seeds promoted or stopped together on their mean) and with
``scheduler: {type: none}`` (every trial trains its full budget).

The study is the quickstart's (search_spaces/quickstart.yaml: easy-vqa, the pretrained tiny BART, its seeds, two
trials at a time, ASHA's grace period 1 evaluation and reduction factor 2 on validation accuracy), limited to the
configurations it tries first (its ``points``: the four VL-PET granularities and the three baseline arms); the
quick scale shortens each trial. Compute is the study's training steps (each trial's last trained step, summed
over trials, from the study's own store); each study's wall time is reported beside it, and so are the pauses
(seeds that waited at a rung for their siblings, each resumed from a checkpoint at the cost of a trial start-up).
The tiny scale (the harness check) runs a grid on a miniature dataset instead, where nothing learns and so
nothing is stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any

import yaml

from benchmarks.common import REPO, Settings, in_child, ratio, target

QUICKSTART = os.path.join(REPO, "search_spaces", "quickstart.yaml")
# configurations (the quickstart's first points) and trial keys laid over the quickstart's trial section
CONFIG = {"full": {"points": 7, "trial": {}},
          "quick": {"points": 4, "trial": {"max_steps": 60, "eval_every_steps": 30, "eval_size": 256}}}
TINY_TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "bottleneck": 8,
              "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 4, "num_beams": 1, "max_new_tokens": 3,
              "eval_every_steps": 3, "epochs": 2}
STUDY_TIMEOUT_S = {"full": 1500, "quick": 900, "tiny": 300}


def quickstart_source(scale: str) -> dict[str, Any]:
    """The quickstart study file, cut to ``scale``'s configurations and trial length."""
    with open(QUICKSTART, encoding="utf-8") as handle:
        source = yaml.safe_load(handle)
    sizes = CONFIG[scale]
    points = source["search"]["points"][:sizes["points"]]
    source["search"] = {**source["search"], "num_samples": len(points), "points": points}
    source["trial"] = {**source["trial"], **sizes["trial"]}
    return source


def prepare_quickstart() -> dict[str, Any]:
    """Build the quickstart's data, tokenizer and pretrained tiny BART once, outside every timed region."""
    from vlpet.data.quickstart import prepare_quickstart as prepare_data
    from vlpet.data.quickstart import quickstart_backbone, quickstart_tokenizer

    prepare_data()
    quickstart_tokenizer("tiny-bart")
    return {"backbone": str(quickstart_backbone("tiny-bart"))}


def tiny_source(data_dir: str) -> dict[str, Any]:
    return {"name": "seed-groups", "trial": {**TINY_TRIAL, "data_dir": data_dir}, "seeds": [1, 2],
            "search_space": {"granularity": {"choice": ["small", "large"]}},
            "search": {"algorithm": "grid", "max_concurrent": 2}}


def study(source: dict[str, Any], scheduler: str, storage: str) -> dict[str, Any]:
    """In a fresh process: the study ``source`` with ``scheduler`` (asha | none) on an embedded local Ray; its
    training steps, wall seconds and what happened to each configuration."""
    import ray

    from vlpet.analysis import load_results
    from vlpet.study.runner import run_study
    from vlpet.study.spec import parse_study
    from vlpet.study.store import StudyStore

    scheduler_section = {**(source.get("scheduler") or {}), "type": scheduler}
    spec = parse_study({**source, "name": f"{source['name']}-{scheduler}", "scheduler": scheduler_section,
                        "storage": storage})
    started = time.time()
    run_study(spec, verbose=0, num_cpus=os.cpu_count())
    wall = time.time() - started
    ray.shutdown()
    frame = load_results(storage)
    groups = frame.groupby("config_key")
    finished_seeds = groups["seeds_finished"].max()
    return {"training_steps": int(frame["step"].fillna(0).sum()), "wall_s": wall, "trials": len(frame),
            "configurations": len(groups), "complete": int(groups["complete_group"].all().sum()),
            "stopped_whole": int(finished_seeds.eq(0).sum()),
            "partial": int((~groups["complete_group"].all() & finished_seeds.gt(0)).sum()),
            "pauses": sum(int(r.get("restarts") or 0) for r in StudyStore(storage).statuses())}


def run(settings: Settings) -> dict[str, Any]:
    os.environ.setdefault("VLPET_CACHE", os.path.join(REPO, ".cache", "bench"))
    root = tempfile.mkdtemp(prefix="vlpet-seed-groups-")
    try:
        if settings.scale == "tiny":
            from benchmarks.orchestration import write_data

            in_child("benchmarks.orchestration:prepare_cache")
            source = tiny_source(write_data(root, 24))
        else:
            in_child("benchmarks.seed_groups:prepare_quickstart", timeout=1800)
            source = quickstart_source(settings.scale)
        runs = {name: in_child("benchmarks.seed_groups:study", timeout=STUDY_TIMEOUT_S[settings.scale],
                               source=source, scheduler=name, storage=os.path.join(root, name))
                for name in ("asha", "none")}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    grouped, full = runs["asha"], runs["none"]
    figures = {"seed-grouped asha": grouped, "no early stopping": full, "study": source,
               "steps_ratio": ratio(grouped["training_steps"], full["training_steps"]),
               "wall_ratio": ratio(grouped["wall_s"], full["wall_s"])}
    where = f"{grouped['configurations']} configurations x {len(source['seeds'])} seeds ({settings.scale})"
    return {"figures": figures, "notes": " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "),
            "targets": [target("training steps with seed-grouped early stopping / without", figures["steps_ratio"],
                               "<=", 0.9, where, "ASHA-style savings remain when seeds are judged together")]}
