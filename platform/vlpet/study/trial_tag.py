"""Trials you can find in the Ray dashboard: a short configuration label per trial and a named actor that carries it.

Tune starts a trial's actor without a name, and Ray reads an actor's ``__repr__`` once, when the actor is created
(the state API's ``repr_name``). Tune reuses a one-worker trial's actor for later trials (``reuse_actors``, which
saves a process start and the torch imports, about 7 s per trial on a 2-core CPU machine: BENCHMARKS.md), so a
name fixed at the actor's creation would name the wrong trial. Each trial therefore creates, from its own actor, a
tiny named actor, its *tag*, for as long as it runs:

    vlpet trial 3f2a9c1e · lora r=16 lr=3.0e-3 · seed 43

The tag holds no resources (``num_cpus=0``), runs on the trial's node, and its ``repr_name`` says which process
trains the trial (``trains in pid 12345, actor 5e1b…``). It is removed when the trial ends, pauses or fails; it is
owned by the trial's actor, so Ray removes it too if that process dies. Naming never fails a trial: if Ray refuses
the tag, the trial trains without one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from typing import Any, Iterator

from vlpet.study.formatting import scientific

logger = logging.getLogger(__name__)

NAME_PREFIX = "vlpet trial "
MAX_SETTING_CHARS = 80       # the dashboard's name column is narrow; the study store keeps the whole configuration
PLACEMENT_SHORT = {"encoder": "enc", "decoder": "dec", "cross_attn": "xattn", "self_attn": "sattn", "value": "v"}
RANK_KEYS = ("bottleneck", "lora_rank", "rank")       # shown as ``r=``
BARE_KEYS = ("arm", "method", "granularity")          # shown as their value alone
_current: dict[str, Any] = {}                          # this process's live tag: {"name": ..., "handle": ...}
_lock = threading.Lock()                               # trials' threads of one reused process start and stop tags


def trial_label(method: str, sampled: dict[str, Any], seed: int) -> str:
    """A short label of a trial's configuration: its arm (else its method), then its searched settings, then its
    seed, e.g. ``vl-pet small r=32 lr=3.0e-3 enc.attn+enc.ffn · seed 42``."""
    head = str(sampled.get("arm") or sampled.get("method") or method)
    settings = [_setting(key, value) for key, value in sampled.items() if key not in ("arm",) and
                not (key == "method" and str(value) == head)]
    text = " ".join([head, *settings])
    if len(text) > MAX_SETTING_CHARS:
        text = text[:MAX_SETTING_CHARS - 1] + "…"
    return f"{text} · seed {seed}"


def actor_name(trial_id: str, label: str) -> str:
    """The name of trial ``trial_id``'s tag actor, as the Ray dashboard and ``ray.util.state.list_actors`` show it."""
    return f"{NAME_PREFIX}{trial_id} · {label}"


def _setting(key: str, value: Any) -> str:
    if key in BARE_KEYS:
        return str(value)
    if key in RANK_KEYS:
        return f"r={value}"
    if isinstance(value, (list, tuple)):
        return "+".join(".".join(PLACEMENT_SHORT.get(part, part) for part in str(site).split(".")) for site in value)
    if isinstance(value, bool):
        return key if value else f"no {key}"
    if isinstance(value, float):
        return f"{key}={_number(value)}"
    return f"{key}={value}"


def _number(value: float) -> str:
    """``0.003`` -> ``3.0e-3``; ``0.25`` -> ``0.25``."""
    return scientific(value) if value and abs(value) < 0.01 else f"{value:g}"


@contextlib.contextmanager
def trial_tag(trial_id: str, label: str) -> Iterator[str | None]:
    """Keep the named tag actor of trial ``trial_id`` alive while the ``with`` block runs; yields its name (None
    when Ray runs no cluster here or refused the tag)."""
    name = _start(actor_name(trial_id, label))
    mine = _current.get("handle") if name else None
    try:
        yield name
    finally:
        if mine is not None:
            _stop(mine)        # only this trial's own: a later trial may hold the process's tag by now


def _start(name: str) -> str | None:
    """Create this process's tag ``name``, first removing the tag of the process's previous trial (left alive when
    Tune ended that trial's thread without unwinding it)."""
    import ray

    if not ray.is_initialized():
        return None
    _stop()
    context = ray.get_runtime_context()
    runs_in = f"trains in pid {os.getpid()}" + (f", actor {context.get_actor_id()}" if context.get_actor_id() else "")
    for attempt in range(8):                 # at most 3.6 s of waiting for the name
        try:
            handle = _tag_class().options(name=name, scheduling_strategy=_this_node(context)).remote(runs_in)
        except ValueError:                   # the name is still held by this trial's tag of a previous attempt
            _kill_named(name)
            time.sleep(0.1 * (attempt + 1))
            continue
        except Exception as error:           # noqa: BLE001 - naming is a convenience; the trial goes on
            logger.warning("trial %s runs without a Ray dashboard name: %s", name, error)
            return None
        with _lock:
            _current.update(name=name, handle=handle)
        return name
    logger.warning("trial %s runs without a Ray dashboard name: the name stayed taken", name)
    return None


def _stop(only: Any = None) -> None:
    """Remove this process's tag; with ``only`` (a tag's handle), only while that tag is still the process's."""
    with _lock:
        if only is not None and _current.get("handle") is not only:
            return
        handle = _current.pop("handle", None)
        _current.pop("name", None)
    if handle is not None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(handle, no_restart=True)


def _kill_named(name: str) -> None:
    import ray

    with contextlib.suppress(Exception):
        ray.kill(ray.get_actor(name), no_restart=True)


def _this_node(context):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=context.get_node_id(), soft=True)


@functools.cache
def _tag_class():
    """The tag actor class, defined inside a function so that Ray ships it by value: a tag process then imports
    nothing of vlpet (whose study package imports torch). Made once per process."""
    import ray

    class TrialTag:
        """A named placeholder that stands for one running trial in the Ray dashboard."""

        def __init__(self, runs_in: str) -> None:
            self.runs_in = runs_in

        def __repr__(self) -> str:
            return self.runs_in

    TrialTag.__qualname__ = TrialTag.__name__     # the dashboard's class column; still shipped by value
    return ray.remote(num_cpus=0, max_restarts=0)(TrialTag)
