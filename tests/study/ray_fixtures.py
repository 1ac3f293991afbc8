"""One local Ray for the study tests of a module, and tiny study files on the miniature quickstart data."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.train.fixtures import write_mini_quickstart

TINY_TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "bottleneck": 8,
              "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 4, "epochs": 2, "num_beams": 1,
              "max_new_tokens": 3, "eval_every_steps": 3}


def start_local_ray():
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"VLPET_CACHE": os.environ["VLPET_CACHE"], "TOKENIZERS_PARALLELISM": "false"}})
    return ray


def write_study(directory: Path, data_dir: Path, name: str = "tiny", **overrides) -> Path:
    study = {"name": name, "trial": {**TINY_TRIAL, "data_dir": str(data_dir), **overrides.pop("trial", {})},
             "search_space": {"granularity": {"choice": ["small", "large"]}},
             "seeds": [1, 2], "search": {"algorithm": "grid", "max_concurrent": 2},
             "scheduler": {"type": "none"}, "storage": str(directory / name), **overrides}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def mini_data(root: Path) -> Path:
    return write_mini_quickstart(root / "mini")
