"""(3) Orchestration overhead: a study of N fixed-cost trials through ``run_study`` (an embedded local Ray, as
``vlpet run`` starts it) vs the same trials back to back in one process with ``run_trial``.

A trial is the tiny backbone on a miniature quickstart dataset written to a temporary directory, with a fixed
number of steps, so its training cost is fixed. Both sides are timed in fresh processes from after their imports
to the end of the last trial: the study's wall time includes Ray's start, the trial processes' start and imports,
Tune's bookkeeping and checkpoint reporting; the back-to-back side pays each trial's data and model build. Each
side runs one torch thread per trial process (cpus_per_worker 1; two workers get 0.5 CPU and one thread each).

The per-trial start-up is what the study store records (``startup_s``: from the trial process's launch, or in a
reused process from the trial's start, to its first training step). The overhead at 60-second trials is projected
from the measured figures: Ray's start once, plus the measured per-trial overhead, over N trials of 60 s each.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from benchmarks.common import REPO, ChildFailed, Settings, in_child, ratio, target

# images: an epoch of the one-worker trial is 0.75 * images * 2 / batch_size steps; each epoch ends in an evaluation
CONFIG = {"full": {"trials": 3, "max_steps": 300, "images": 800},
          "quick": {"trials": 1, "max_steps": 60, "images": 160},
          "tiny": {"trials": 1, "max_steps": 2, "images": 8}}
TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "bottleneck": 8, "gate_bottleneck": 8,
         "decoder_bottleneck": 8, "batch_size": 8, "epochs": 1000, "num_beams": 1, "max_new_tokens": 3,
         "eval_size": 16, "granularity": "large"}
PROJECTED_TRIAL_S = 60.0
STUDY_TIMEOUT_S = {"full": 360, "quick": 240, "tiny": 240}
SHAPES = {"one worker": {"workers": 1, "cpus_per_worker": 1}, "two workers": {"workers": 2, "cpus_per_worker": 0.5}}


def back_to_back(trials: list[dict[str, Any]], work_dir: str) -> dict[str, Any]:
    """In a fresh process: ``run_trial`` for each trial in turn (one torch thread); wall and start-up seconds."""
    import torch

    from vlpet.train.loop import run_trial
    from vlpet.trial_config import TrialConfig

    torch.set_num_threads(1)
    started, startups = time.time(), []
    for index, keys in enumerate(trials):
        begun = time.time()
        run_trial(TrialConfig.from_dict(keys), os.path.join(work_dir, f"trial-{index}"),
                  on_ready=lambda: startups.append(time.time() - begun))
    return {"wall_s": time.time() - started, "startup_s": startups}


def back_to_back_ddp(trials: list[dict[str, Any]], work_dir: str, workers: int) -> dict[str, Any]:
    """In a fresh process: ``workers`` processes form one gloo DDP group (no Ray) and run the trials back to back
    with ``run_trial``, one torch thread each, the non-main ranks meeting rank 0 at every report as under Ray
    Train. The reference for multi-worker studies: the same DDP training, without the study around it. Timed on
    rank 0 from after its imports and the group's start to the end of the last trial."""
    import multiprocessing

    from tests.train.ddp import free_port

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [context.Process(target=_ddp_rank, args=(rank, workers, port, trials, work_dir, results))
                 for rank in range(workers)]
    for process in processes:
        process.start()
    outcome = results.get(timeout=STUDY_TIMEOUT_S["full"])
    for process in processes:
        process.join(timeout=60)
    if any(process.exitcode for process in processes):
        raise RuntimeError(f"a DDP rank failed: exit codes {[p.exitcode for p in processes]}")
    return outcome


def _ddp_rank(rank: int, workers: int, port: int, trials: list[dict[str, Any]], work_dir: str, results) -> None:
    import torch.distributed as dist

    from tests.train.ddp import join_gloo_group, main_rank_report
    from vlpet.train.loop import run_trial
    from vlpet.trial_config import TrialConfig

    runtime = join_gloo_group(rank, workers, port)
    dist.barrier()
    started, startups = time.time(), []
    for index, keys in enumerate(trials):
        begun = time.time()
        run_trial(TrialConfig.from_dict(keys), os.path.join(work_dir, f"trial-{index}-rank-{rank}"),
                  report=main_rank_report(runtime), runtime=runtime,
                  on_ready=lambda: startups.append(time.time() - begun))
    dist.barrier()
    if rank == 0:
        results.put({"wall_s": time.time() - started, "startup_s": startups, "workers": workers})
    dist.destroy_process_group()


def study(trial: dict[str, Any], seeds: list[int], workers: int, cpus_per_worker: float,
          storage: str) -> dict[str, Any]:
    """In a fresh process: the trials as a grid study (one configuration, one trial per seed, one at a time)
    through ``run_study`` on an embedded local Ray; wall seconds and the store's per-trial records."""
    import ray

    from vlpet.study.runner import run_study
    from vlpet.study.spec import parse_study
    from vlpet.study.store import StudyStore

    keys = {k: v for k, v in trial.items() if k not in ("granularity", "seed")}
    spec = parse_study({"name": "orchestration", "trial": keys, "search_space": {"granularity": {"choice": ["large"]}},
                        "seeds": seeds, "search": {"algorithm": "grid", "max_concurrent": 1, "max_failures": 0},
                        "scheduler": {"type": "none"}, "storage": storage,
                        "resources": {"workers": workers, "cpus_per_worker": cpus_per_worker, "gpus_per_worker": 0}})
    started = time.time()
    outcome = run_study(spec, verbose=0, num_cpus=os.cpu_count())
    wall = time.time() - started
    ray.shutdown()
    store = StudyStore(outcome.study_dir)
    records = sorted(store.statuses(), key=lambda r: r.get("started") or 0)
    return {"wall_s": wall, "fit_s": outcome.wall_s, "statuses": [r.get("status") for r in records],
            "startup_s": [r.get("startup_s") for r in records],
            "reused_process": [r.get("reused_process") for r in records],
            "evaluations": [len(store.evaluations(r["trial_id"])) for r in records]}


def store_records(storage: str) -> list[dict[str, Any]]:
    """What the study store holds of a study that did not end: each trial's status and start-up."""
    from vlpet.study.store import StudyStore

    keys = ("status", "startup_s", "started", "ended", "restarts")
    return [{k: record.get(k) for k in keys} for record in StudyStore(storage).statuses()]


def write_data(root: str, images: int) -> str:
    from tests.train.fixtures import write_mini_quickstart
    from pathlib import Path

    return str(write_mini_quickstart(Path(root) / "data", n_images=images))


def prepare_cache() -> None:
    """Build the quickstart tokenizer's cache once, outside every timed region."""
    from vlpet.data.quickstart import quickstart_tokenizer

    quickstart_tokenizer("tiny-bart")


def compare(runs: dict[str, Any], baseline: dict[str, Any], trials: int) -> dict[str, Any]:
    """Wall-time ratio, overhead, start-up figures and the projection to 60-second trials."""
    wall, base = runs["wall_s"], baseline["wall_s"]
    ray_start = wall - runs["fit_s"]
    per_trial = (runs["fit_s"] - base) / trials
    startups = [s for s in runs["startup_s"] if s is not None]
    projected_wall = ray_start + trials * (PROJECTED_TRIAL_S + per_trial)
    return {**runs, "sequential_wall_s": base, "sequential_startup_s": baseline["startup_s"],
            "wall_ratio": ratio(wall, base), "overhead_s": wall - base, "overhead_fraction": (wall - base) / wall,
            "ray_start_s": ray_start, "per_trial_overhead_s": per_trial,
            "startup_median_s": statistics.median(startups) if startups else None,
            "startup_max_s": max(startups) if startups else None,
            "projected_overhead_fraction_60s": (ray_start + trials * per_trial) / projected_wall}


def run(settings: Settings) -> dict[str, Any]:
    sizes = CONFIG[settings.scale]
    os.environ.setdefault("VLPET_CACHE", os.path.join(REPO, ".cache", "bench"))
    root = tempfile.mkdtemp(prefix="vlpet-orch-")
    try:
        in_child("benchmarks.orchestration:prepare_cache")
        trial = {**TRIAL, "max_steps": sizes["max_steps"], "data_dir": write_data(root, sizes["images"])}
        seeds = list(range(1, sizes["trials"] + 1))
        trials = [{**trial, "seed": s} for s in seeds]
        baselines = {1: in_child("benchmarks.orchestration:back_to_back", trials=trials,
                                 work_dir=os.path.join(root, "sequential")),
                     2: in_child("benchmarks.orchestration:back_to_back_ddp", trials=trials,
                                 work_dir=os.path.join(root, "sequential-ddp"), workers=2)}
        figures: dict[str, Any] = {"trials": sizes["trials"], "max_steps": sizes["max_steps"], "trial": TRIAL,
                                   "back_to_back": {f"{w} worker(s)": b for w, b in baselines.items()}}
        runs = {name: (shape, {}) for name, shape in SHAPES.items()}
        for name, (shape, env) in runs.items():
            baseline = baselines[shape["workers"]]
            storage = os.path.join(root, name.replace(" ", "-").replace(",", ""))
            try:
                measured = in_child("benchmarks.orchestration:study", timeout=STUDY_TIMEOUT_S[settings.scale], env=env,
                                    trial=trial, seeds=seeds, storage=storage, **shape)
            except ChildFailed as failure:          # a hung or failed study is a finding, not the end of the run
                figures[name] = {**shape, "env": env, "error": failure.reason, "store": store_records(storage)}
                continue
            figures[name] = {**shape, "env": env, **compare(measured, baseline, sizes["trials"])}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"figures": figures, "notes": __doc__.split("\n\n")[1].replace("\n", " "),
            "targets": [t for name in SHAPES for t in shape_targets(name, figures[name])]}


def shape_targets(name: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in figures:
        return [target(f"study overhead and start-up ({name})", None, "<=", 0.10, name, figures["error"])]
    return [target(f"study overhead fraction of wall time at 60-second trials ({name}, projected)",
                   figures["projected_overhead_fraction_60s"], "<=", 0.10,
                   f"{name}, {figures['workers']} x {figures['cpus_per_worker']} CPU",
                   "projected from the measured Ray start and per-trial overhead"),
            target(f"per-trial start-up seconds ({name}, median over trials)", figures["startup_median_s"], "<=", 3.0,
                   f"{name}; each trial: {[round(s, 2) for s in figures['startup_s'] if s is not None]}",
                   "a trial in a new process pays the process start and imports; one-worker trials after the "
                   "first reuse their process")]
