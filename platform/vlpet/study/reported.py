"""The metrics a trial reports to Ray Tune at every evaluation: the names a study's objectives and scheduler may use.

A trial reports (``vlpet.study.worker``) every numeric key of its evaluation except the held-out ``test_*`` ones:
the primary ``metric``, each task's own metrics (its record in ``vlpet.data.registry``), the parameter budget
(``vlpet.pet.budget``), the training figures of ``vlpet.train.loop`` and the worker's ``total_steps``. An
objective outside that list validates no longer: it used to crash the study at its first evaluation.
"""

from __future__ import annotations

from vlpet.data.registry import get_task
from vlpet.trial_config import TrialConfig

GENERIC = ("metric", "trainable_params", "total_params", "trainable_pct", "adapter_bytes", "quantised_params",
           "train_step_s", "samples_per_s", "peak_mem_bytes", "epoch", "step", "total_steps")


def reported_metrics(config: TrialConfig) -> tuple[set[str], tuple[str, ...]]:
    """(names, prefixes): the numeric metrics every evaluation of ``config`` reports; a prefix stands for keys
    named after the data (``vqa_acc_<answer type>``)."""
    names, prefixes = set(GENERIC), []
    for task in config.tasks:
        task_names, task_prefixes = get_task(task).reported_metrics()
        names.update(task_names)
        prefixes.extend(task_prefixes)
    return names, tuple(prefixes)


def unreported(config: TrialConfig, wanted: list[str]) -> list[str]:
    """The names in ``wanted`` that no evaluation of ``config`` reports."""
    names, prefixes = reported_metrics(config)
    return [name for name in wanted if name not in names and not name.startswith(prefixes)]


def describe(config: TrialConfig) -> str:
    """The reported metrics as a sorted, readable list (prefixes shown as ``vqa_acc_<...>``)."""
    names, prefixes = reported_metrics(config)
    return ", ".join([*sorted(names), *(f"{prefix}<...>" for prefix in prefixes)])
