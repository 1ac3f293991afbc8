"""One local Ray for the study tests of a module, real head nodes (`ray start --head`), and tiny study files on
the miniature quickstart data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.train.fixtures import write_mini_quickstart

TINY_TRIAL = {"backbone": "tiny-bart", "task": "quickstart", "visual_feat_dim": 192, "bottleneck": 8,
              "gate_bottleneck": 8, "decoder_bottleneck": 8, "batch_size": 4, "epochs": 2, "num_beams": 1,
              "max_new_tokens": 3, "eval_every_steps": 3}


def start_local_ray():
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    for attempt in range(2):                       # a loaded machine can miss the GCS start-up deadline once
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"VLPET_CACHE": os.environ["VLPET_CACHE"], "TOKENIZERS_PARALLELISM": "false"}})
            return ray
        except RuntimeError:
            ray.shutdown()
            if attempt:
                raise
            time.sleep(5)
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


BIN = os.path.dirname(sys.executable)


def http_status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0                                                   # not listening yet


def start_head(root, token_file, gcs_port, dashboard_port):
    """``ray start --head --block`` on 127.0.0.1 with token authentication, in its own process group; its temp
    dir is short because Ray's socket paths must fit in 107 bytes."""
    ray_dir = tempfile.mkdtemp(prefix="vlray-")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(token_file), "RAY_USAGE_STATS_ENABLED": "0"}
    process = subprocess.Popen(
        [os.path.join(BIN, "ray"), "start", "--head", "--block", f"--port={gcs_port}", "--num-cpus=2",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--temp-dir={ray_dir}"],
        env=env, stdout=open(root / "ray-start.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while http_status(f"http://127.0.0.1:{dashboard_port}/api/version", token_file.read_text()) != 200:
        if process.poll() is not None or time.time() > deadline:
            stop_head(process)
            raise AssertionError("the head node did not come up:\n" + (root / "ray-start.log").read_text()[-3000:])
        time.sleep(1)
    process.ray_dir = ray_dir
    return process


def stop_head(process):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    shutil.rmtree(getattr(process, "ray_dir", ""), ignore_errors=True)


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    """``predicate()``'s first truthy value, polled every ``every`` seconds; AssertionError after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_session(driver: subprocess.Popen) -> None:
    """SIGKILL the driver and every process of its session (its Ray: GCS, raylet and trial workers, which Ray
    may place in process groups of their own), and wait until none is left writing into the study."""
    import psutil

    session = driver.pid
    deadline = time.time() + 30
    while time.time() < deadline:
        members = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == session:
                    members.append(process)
            except (OSError, psutil.Error):
                continue
        if not members:
            break
        for process in members:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(members, timeout=5)
    driver.wait()


def one_done_one_checkpointed(store) -> dict | None:
    """The store's statuses by status once one trial is TERMINATED and a RUNNING one has a checkpoint."""
    from vlpet.study.recovery import latest_checkpoint

    statuses = {s["status"]: s for s in store.statuses()}
    running = statuses.get("RUNNING")
    if "TERMINATED" in statuses and running and latest_checkpoint(store, [running["trial_id"]]):
        return statuses
    return None


def kill_mid_study(args: list[str], store, timeout: float, what: str, **popen) -> dict:
    """Run ``vlpet run ARGS`` in a session of its own and SIGKILL it, with its whole Ray, once one trial has
    finished and another has stored a checkpoint; returns the statuses by status at that moment."""
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    driver = subprocess.Popen([sys.executable, "-m", "vlpet.cli", "run", *args], start_new_session=True, **popen)
    try:
        return wait_for(lambda: one_done_one_checkpointed(store), timeout, what)
    finally:
        kill_session(driver)

