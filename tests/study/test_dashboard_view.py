"""Trials you can find in the Ray dashboard: while a tiny real study runs, Ray's state API (what the dashboard's
actor list shows) names every running trial by its trial id and configuration label, including trials that run
in a reused Tune actor, and the node's Prometheus endpoint serves the trials' vlpet gauges."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request

import pytest

from tests.study.ray_fixtures import wait_for, write_study
from vlpet.study.runner import run_study
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore
from vlpet.study.trial_tag import NAME_PREFIX, trial_label

pytestmark = pytest.mark.slow

GAUGE_LINE = re.compile(r'^ray_vlpet_trial_(\w+)\{([^}]*)\} (\S+)$', re.MULTILINE)


def test_trial_labels_are_short_and_readable():
    sampled = {"arm": "vl-pet", "granularity": "large", "bottleneck": 32, "lr": 0.0034889,
               "placement": ["encoder.attn", "decoder.cross_attn.value"]}
    assert trial_label("vl-pet", sampled, 43) == "vl-pet large r=32 lr=3.5e-3 enc.attn+dec.xattn.v · seed 43"
    assert trial_label("lora", {}, 1) == "lora · seed 1"
    long = trial_label("adapter", {f"key{i}": "value" for i in range(20)}, 2)
    assert len(long) <= 90 and long.endswith("… · seed 2")


@pytest.fixture(scope="module")
def dashboard_ray():
    """A local Ray with its dashboard (the state API lives there) and metrics reported every second, and the
    state API's address (named: other tests may run Rays on this machine)."""
    import ray

    with socket.socket() as probe:                      # a free port: other tests' Rays may hold 8265
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = ray.init(address="local", num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=port,
             log_to_driver=False, _system_config={"metrics_report_interval_ms": 1000},
             runtime_env={"env_vars": {"VLPET_CACHE": os.environ["VLPET_CACHE"], "TOKENIZERS_PARALLELISM": "false"}})
    yield ray, f"http://{context.dashboard_url}"
    ray.shutdown()


def _tags(address: str) -> dict[str, object]:
    """vlpet's tag actors by name, as the dashboard lists them from their creation (PENDING_CREATION, then
    ALIVE) until they are removed (DEAD)."""
    from ray.util.state import list_actors

    actors = list_actors(address=address, filters=[("state", "!=", "DEAD")], detail=True, limit=1000,
                         raise_on_missing_output=False)
    return {a.name: a for a in actors if a.name.startswith(NAME_PREFIX)}


def _gauges(url: str) -> list[tuple[str, dict[str, str], float]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return []
    return [(key, dict(re.findall(r'(\w+)="([^"]*)"', tags)), float(value))
            for key, tags, value in GAUGE_LINE.findall(text)]


def _watch(store: StudyStore, done: threading.Event, state_api: str, metrics_url: str) -> tuple[dict, list, int]:
    """Poll the store and Ray's state API until the study ends: the tag's name and repr (once it is ALIVE) seen
    for each RUNNING trial (by trial id), the vlpet gauges read from Prometheus, and how many snapshots were
    taken."""
    seen, gauges, snapshots, last_scrape = {}, [], 0, 0.0
    while not done.is_set():
        running = {s["trial_id"]: s for s in store.statuses() if s["status"] == "RUNNING"}
        tags = _tags(state_api) if running else {}
        snapshots += bool(running)
        for trial_id, status in running.items():
            for name, actor in tags.items():
                if name.startswith(f"{NAME_PREFIX}{trial_id} · "):
                    repr_name = actor.repr_name if actor.state == "ALIVE" else seen.get(trial_id, ("", ""))[1]
                    seen[trial_id] = (name, repr_name)
        if time.time() - last_scrape > 2:
            gauges += _gauges(metrics_url)
            last_scrape = time.time()
        time.sleep(0.2)
    return seen, gauges, snapshots


def test_every_running_trial_is_named_in_ray_s_state_api_and_has_gauges(dashboard_ray, data, tmp_path):
    ray, state_api = dashboard_ray
    # two configurations x two seeds on two slots: the last two trials run in the first two trials' Tune actors
    path = write_study(tmp_path, data, name="dash", trial={"eval_every_steps": 6})
    node = ray.nodes()[0]
    metrics_url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    store = StudyStore(str(tmp_path / "dash"))
    done, outcome = threading.Event(), {}

    def run():
        try:
            outcome["study"] = run_study(load_study(path), verbose=0)
        finally:
            done.set()

    started = time.time()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    seen, gauges, snapshots = _watch(store, done, state_api, metrics_url)
    thread.join()
    print(f"study {time.time() - started:.1f} s, {snapshots} snapshots")
    assert "study" in outcome
    statuses = {s["trial_id"]: s for s in store.statuses()}
    assert len(statuses) == 4 and {s["status"] for s in statuses.values()} == {"TERMINATED"}

    # every trial was found by its name while the store said RUNNING, reused Tune actors included
    assert set(seen) == set(statuses), f"named: {sorted(seen)}, trials: {sorted(statuses)}"
    assert any(s.get("reused_process") for s in statuses.values())        # the case a fixed name gets wrong
    for trial_id, (name, repr_name) in seen.items():
        final = statuses[trial_id]
        method = final["config"]["method"]
        assert name == f"vlpet trial {trial_id} · {method} {final['sampled']['granularity']} · seed {final['seed']}"
        print(f"{name!r}: {repr_name!r}")
        assert repr_name.startswith(f"trains in pid {final['pid']}, actor "), (name, repr_name)  # the trainer
    wait_for(lambda: not _tags(state_api), 30, "the trials' tag actors to be removed")

    # the gauges: tagged with trial id, study and label; the steps are the store's evaluated steps
    steps = [(tags, value) for key, tags, value in gauges if key == "step" and tags.get("study") == "dash"]
    assert steps, "no ray_vlpet_trial_step series on the node's metrics endpoint"
    for tags, value in steps:
        assert tags["trial_id"] in statuses and tags["label"].replace("|", "·") in seen[tags["trial_id"]][0]
        assert value in {float(r["step"]) for r in store.evaluations(tags["trial_id"])}
    keys = {key for key, tags, _ in gauges if tags.get("study") == "dash"}
    assert {"step", "metric", "progress", "samples_per_s", "seed", "running"} <= keys
    print(f"{len(gauges)} vlpet gauge samples, trials with a step gauge: {len({t['trial_id'] for t, _ in steps})}")


def test_a_trial_that_unwinds_late_removes_only_its_own_tag(dashboard_ray):
    # a reused process: the next trial's tag is up before the previous trial's thread unwinds its own
    ray, state_api = dashboard_ray
    from vlpet.study.trial_tag import trial_tag

    previous = trial_tag("late0001", "lora · seed 1")
    assert previous.__enter__() == f"{NAME_PREFIX}late0001 · lora · seed 1"
    with trial_tag("late0002", "lora · seed 2") as name:
        previous.__exit__(None, None, None)
        assert ray.get(ray.get_actor(name).__ray_ready__.remote(), timeout=60) is True     # still alive
        assert set(_tags(state_api)) >= {name}
    wait_for(lambda: not _tags(state_api), 30, "the tags to be removed")
