"""A real Ray cluster of two nodes on this machine: a head (`ray start --head`) and a second node (`ray start
--address`), each in its own process group, temp dir and ports, with token authentication; and a holder that
keeps the head's CPU busy so that trials start on the second node.

Ray runs several raylets on one machine when their ports differ. The head declares a node dead after about 1.5 s
of failed health checks (instead of Ray's default 15 s), so a killed node is noticed quickly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.train.ddp import free_port

BIN = os.path.dirname(sys.executable)
FAST_DEATH = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
              "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3"}

# Joins the cluster, waits for both nodes, then holds one CPU of the head with an actor pinned there until
# its stdin closes (the actor dies with this driver). Prints one JSON line: the two node ids.
HOLDER = """
import json, sys, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.time() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < 2:
    assert time.time() < deadline, "the second node did not join"
    time.sleep(0.2)
nodes = [n for n in ray.nodes() if n["Alive"]]
head = next(n["NodeID"] for n in nodes if "node2" not in n["Resources"])
second = next(n["NodeID"] for n in nodes if "node2" in n["Resources"])
@ray.remote(num_cpus=1)
class Holder:
    def ready(self):
        return ray.get_runtime_context().get_node_id()
holder = Holder.options(scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)).remote()
assert ray.get(holder.ready.remote()) == head
print(json.dumps({"head": head, "node2": second}), flush=True)
sys.stdin.read()
"""


class Node:
    """One `ray start --block` process group with its own temp dir; stopped with its whole group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.temp_dir = tempfile.mkdtemp(prefix="vln-")        # Ray's socket paths must fit in 107 bytes
        ports = {"--node-manager-port": free_port(), "--object-manager-port": free_port(),
                 "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                 "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port()}
        # worker ports 0: each worker binds a port the system picks (as ray.cluster_utils does), so the two
        # raylets' workers never compete for one range
        command = [os.path.join(BIN, "ray"), "start", "--block", f"--temp-dir={self.temp_dir}",
                   "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats",
                   *[f"{k}={v}" for k, v in ports.items()], *args]
        self.process = subprocess.Popen(command, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process of this node, as if the machine went away: its process group (raylet, agents)
        and every descendant of `ray start` (Ray's workers run in sessions of their own)."""
        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for process in family:
            try:
                process.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace_s: float = 10) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            self.kill(sig)
            try:
                self.process.wait(timeout=grace_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.kill(signal.SIGKILL)                              # what `ray start` left in its group
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class TwoNodeCluster:
    """Head (1 CPU) and node 2 (1 CPU, custom resource ``node2``) on 127.0.0.1, token auth from ``token_file``."""

    def __init__(self, root: Path, token_file: Path):
        self.root = root
        self.gcs = f"127.0.0.1:{free_port()}"
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN_PATH": str(token_file), "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": self.gcs}
        self.env.pop("RAY_AUTH_TOKEN", None)
        self.head = Node(["--head", f"--port={self.gcs.split(':')[1]}", "--num-cpus=1", "--include-dashboard=false",
                          f"--dashboard-port={free_port()}"], {**self.env, **FAST_DEATH}, root / "head.log")
        self.node2 = Node([f"--address={self.gcs}", "--num-cpus=1", "--resources", json.dumps({"node2": 1})],
                          self.env, root / "node2.log")
        self.holder = None
        self.node_ids: dict[str, str] = {}

    def hold_head(self) -> dict[str, str]:
        """Start the holder (it waits until both nodes are up); returns the node ids {head, node2}."""
        self.holder = subprocess.Popen([sys.executable, "-c", HOLDER, self.gcs], env=self.env, text=True,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=open(self.root / "holder.log", "ab"))
        line = self.holder.stdout.readline()
        if not line:
            raise AssertionError("the cluster did not come up:\n" + self.logs())
        self.node_ids = json.loads(line)
        return self.node_ids

    def release_head(self) -> None:
        """End the holder: its actor dies with it and the head's CPU is free for trials."""
        if self.holder is not None:
            self.holder.stdin.close()
            self.holder.wait(timeout=60)
            self.holder = None

    def stop(self) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
        self.node2.stop()
        self.head.stop(grace_s=3)

    def logs(self) -> str:
        return "".join((self.root / name).read_text()[-2000:] for name in ("head.log", "node2.log", "holder.log")
                       if (self.root / name).exists())
