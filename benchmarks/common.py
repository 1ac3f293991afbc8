"""What every benchmark shares: sizes and settings, timing with warm-ups and medians, the machine description,
synthetic VL batches, trial models and their real training step, child processes, and targets."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_MARKER = "BENCHMARK-RESULT "
SCALES = ("full", "quick", "tiny")


@dataclass(frozen=True)
class Size:
    """One training batch's shape and the two backbones it runs on (a BART-like and a T5-like one)."""

    backbones: tuple[str, str]
    batch: int
    text_tokens: int
    visual_tokens: int
    target_tokens: int
    visual_feat_dim: int = 2048


SIZES = {
    "full": Size(("bart-base", "t5-base"), batch=16, text_tokens=20, visual_tokens=36, target_tokens=10),
    "quick": Size(("small-bart", "small-t5"), batch=4, text_tokens=20, visual_tokens=36, target_tokens=10),
    "tiny": Size(("tiny-bart", "tiny-t5"), batch=2, text_tokens=5, visual_tokens=9, target_tokens=4,
                 visual_feat_dim=16),
}
REPEATS = {"full": 5, "quick": 2, "tiny": 1}
WARMUPS = {"full": 1, "quick": 1, "tiny": 1}


@dataclass(frozen=True)
class Settings:
    """``scale``: full (the issue's sizes), quick (a smoke check of the whole harness in minutes) or tiny (the
    harness test); ``threads`` = torch threads, 0 for one per core."""

    scale: str = "full"
    device: str = "cpu"
    threads: int = 0

    @property
    def size(self) -> Size:
        return SIZES[self.scale]

    @property
    def repeats(self) -> int:
        return REPEATS[self.scale]

    @property
    def warmups(self) -> int:
        return WARMUPS[self.scale]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def settings_from(data: dict[str, Any]) -> Settings:
    return Settings(**data)


# ---- timing --------------------------------------------------------------------------------------------------
def summary(seconds: list[float]) -> dict[str, Any]:
    """Median (the figure), min, max, count and the values of repeated measurements."""
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "n": len(seconds),
            "values": list(seconds)}


def paired_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    """Median over repeats of numerator / denominator, pairing the repeats of two interleaved cases: a burst of
    load from other processes falls on both members of a pair, so it cancels more than in a ratio of medians."""
    pairs = zip(numerator["values"], denominator["values"])
    return statistics.median(a / b for a, b in pairs if b)


def interleaved(cases: dict[str, Callable[[], Any]], repeats: int, warmups: int, sync: Callable[[], None],
                inner: int = 1) -> dict[str, dict[str, Any]]:
    """Time each case ``repeats`` times after ``warmups`` untimed calls, alternating the cases (ABAB...) so that
    load from other processes falls on all of them alike. ``inner`` calls are timed together and averaged."""
    for _ in range(warmups):
        for run in cases.values():
            run()
            sync()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            started = time.perf_counter()
            for _ in range(inner):
                run()
            sync()
            seconds[name].append((time.perf_counter() - started) / inner)
    return {name: summary(values) for name, values in seconds.items()}


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


# ---- the machine -------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(settings: Settings) -> dict[str, Any]:
    """CPU, cores, threads, memory, library versions, GPU (if any) and the load when the run started."""
    import ray
    import torch
    import transformers

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "torch_threads": set_threads(settings), "memory_gb": round(_total_memory() / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "platform": platform.platform(), "torch": torch.__version__, "transformers": transformers.__version__,
            "ray": ray.__version__, "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def set_threads(settings: Settings) -> int:
    import torch

    torch.set_num_threads(settings.threads or len(os.sched_getaffinity(0)))
    return torch.get_num_threads()


def peak_rss_bytes() -> int:
    """This process's own peak resident set size.

    On Linux getrusage's maxrss of a child process starts at its parent's peak (the kernel carries the parent's
    high-water mark across fork and exec), so a child spawned by a large parent (a pytest run, a runner that
    built a model) would report the parent's peak. ``VmHWM`` in /proc/self/status is the high-water mark of
    this process's own address space, reset by exec; it is used where it exists, maxrss elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return maxrss_bytes()


def maxrss_bytes() -> int:
    """getrusage maxrss in bytes: what the training loop reports as ``peak_mem_bytes`` on CPU."""
    import torch

    from vlpet.train.runtime import peak_memory_bytes

    return peak_memory_bytes(torch.device("cpu"))


def current_rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


# ---- models, batches and the training step ----------------------------------------------------------------
def device_sync(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def trial_config(backbone: str, keys: dict[str, Any], size: Size):
    """A TrialConfig for ``backbone`` with the method ``keys``; visual tokens are fed unpooled."""
    from vlpet.trial_config import TrialConfig

    return TrialConfig.from_dict({"backbone": backbone, "task": "quickstart", "batch_size": size.batch,
                                  "visual_feat_dim": size.visual_feat_dim, "visual_grid": None, **keys})


def synthetic_batch(vocab: int, size: Size, seed: int = 0, batch: int | None = None,
                    visual_tokens: int | None = None) -> dict[str, Any]:
    """Random token ids, [B, 1, N, F] visual features, labels and unit loss weights."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    batch = batch or size.batch
    tokens = visual_tokens or size.visual_tokens
    high = max(5, min(vocab - 300, 30_000))
    ids = torch.randint(4, high, (batch, size.text_tokens), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "visual_feats": torch.randn(batch, 1, tokens, size.visual_feat_dim, generator=generator),
            "labels": torch.randint(4, high, (batch, size.target_tokens), generator=generator),
            "loss_weights": torch.ones(batch)}


class TrainStep:
    """The platform's own optimizer step (``vlpet.train.loop._train_step``: forward, weighted loss, backward,
    gradient clipping, AdamW, schedule) on a fixed batch, for a model built from a TrialConfig."""

    def __init__(self, config, model, device: str) -> None:
        from vlpet.train.checkpoint import Progress
        from vlpet.train.optim import build_optimizer, build_scheduler
        from vlpet.train.runtime import local_runtime

        self.config, self.model = config, model
        self.runtime = local_runtime(config.precision, device)
        self.optimizer = build_optimizer(model, config.lr, config.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, 10_000, config.warmup_ratio)
        self.progress = Progress()
        self.batch: dict[str, Any] = {}

    def __call__(self) -> float:
        from vlpet.train.loop import _train_step

        return _train_step(self.model, self.optimizer, self.scheduler, self.batch, self.config, self.runtime,
                           self.progress)


def build_step(config, device: str, size: Size, model=None) -> TrainStep:
    """Build ``config``'s model (random weights) on ``device`` (unless given) and its step on a synthetic batch."""
    from vlpet.build import build_trial_model

    model = model if model is not None else build_trial_model(config, pretrained=False).to(device)
    step = TrainStep(config, model, device)
    step.batch = synthetic_batch(model.backbone.config.vocab_size, size)
    return step


def reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> int:
    """Peak accelerator memory allocated (CUDA) or this process's peak RSS (CPU)."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    return peak_rss_bytes()


# ---- child processes ---------------------------------------------------------------------------------------
def in_child(target: str, timeout: float = 1800, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run ``"module:function"(**kwargs)`` in a fresh Python process (``benchmarks.child``), with ``env`` added to
    its environment, and return the JSON it prints; the child's output tail is raised with any failure."""
    command = [sys.executable, "-m", "benchmarks.child", target, json.dumps(kwargs)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0",
           "TRANSFORMERS_VERBOSITY": "error", **(env or {})}
    # its own session: on a timeout the child and everything it started (a local Ray) end together
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
        raise ChildFailed(f"benchmark child {target} timed out after {timeout:.0f} s", stdout, stderr) from None
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if child.returncode or not lines:
        raise ChildFailed(f"benchmark child {target} failed (exit {child.returncode})", stdout, stderr)
    return json.loads(lines[-1][len(RESULT_MARKER):])


class ChildFailed(RuntimeError):
    """A benchmark child process failed or timed out; the message ends with its output's tail."""

    def __init__(self, reason: str, stdout: str, stderr: str) -> None:
        super().__init__(f"{reason}:\n{stdout[-1500:]}\n{stderr[-3000:]}")
        self.reason = reason


# ---- targets -----------------------------------------------------------------------------------------------
def target(name: str, figure: float | None, op: str, threshold: float, where: str, note: str = "") -> dict:
    """One of the issue's targets, marked met or missed by ``figure op threshold`` (op: "<=" or ">=")."""
    met = False                                   # a figure that could not be measured counts as missed
    if figure is not None and figure == figure:
        met = figure <= threshold if op == "<=" else figure >= threshold
    entry = {"target": name, "figure": figure, "op": op, "threshold": threshold, "met": met, "where": where}
    if note:
        entry["note"] = note
    return entry
