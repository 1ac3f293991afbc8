"""Send a study to a running Ray cluster through the Ray Jobs API, and follow it.

The cluster token (vlpet.study.connection) is sent as ``Authorization: Bearer`` on every request. Plain-HTTP
addresses other than the local machine are refused unless ``insecure`` (reach a remote dashboard through ``ray
dashboard cluster.yaml`` or an SSH tunnel: it then is http://127.0.0.1:8265).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from vlpet.errors import ConfigError
from vlpet.study.cloud import aws_env, check_reachable
from vlpet.study.connection import WORKER_ENV, auth_token
from vlpet.study.store import StudyStore, is_uri

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
UPLOAD_EXCLUDES = ["/.venv", "/.git", "/.cache", "/runs", "*.egg-info", "__pycache__", ".pytest_cache",
                   "/benchmarks/out", ".ipynb_checkpoints"]
METADATA_KEY = "vlpet_study"
STUDY_ENV = "VLPET_STUDY_YAML"


@dataclass
class Submission:
    job_id: str
    dashboard_url: str
    storage: str


def dashboard_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_DASHBOARD_ADDRESS") or DEFAULT_ADDRESS
    return address if is_uri(address) else f"http://{address}"


def _is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def check_address(address: str, insecure: bool = False) -> str:
    parsed = urlparse(address)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"--address {address!r}: expected http(s)://HOST:PORT of the Ray dashboard")
    if parsed.scheme == "http" and not _is_local(parsed.hostname) and not insecure:
        raise ConfigError(
            f"--address {address}: refusing to send the cluster token and the project over plain HTTP to a "
            f"non-local host; reach the dashboard through a tunnel (ray dashboard cluster.yaml, then "
            f"{DEFAULT_ADDRESS}), use https, or pass --insecure")
    return address


def client(address: str | None, insecure: bool = False):
    """A JobSubmissionClient for the dashboard at ``address`` with the token attached when one exists."""
    from ray.job_submission import JobSubmissionClient

    address = check_address(dashboard_address(address), insecure)
    token = auth_token()
    headers = None
    if token:
        # Sent explicitly: setting RAY_AUTH_MODE in this process would also change later local ray.init calls.
        headers = {"Authorization": f"Bearer {token}"}
    try:
        return JobSubmissionClient(address, headers=headers)
    except Exception as error:  # noqa: BLE001 - connection and auth errors come as several types
        hint = "" if token else " (no token found in RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
        raise ConfigError(f"cannot reach the Ray Jobs API at {address}: {error}{hint}") from None


def project_root() -> str:
    """The repository holding search_spaces/ and platform/vlpet (the code shipped with a job)."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    if not os.path.isdir(os.path.join(root, "platform", "vlpet")):
        raise ConfigError("vlpet submit needs the project checkout (platform/vlpet); it was not found beside "
                          f"the installed package at {root}")
    return root


def _submit_when_ready(jobs, timeout_s: float = 300.0, **job) -> str:
    """Submit, waiting while a just-started head has no job agent yet (HTTP 500 "No available agent"). On a busy
    machine the head's dashboard agent has been seen to take over two minutes to register."""
    import time

    deadline = time.time() + timeout_s
    while True:
        try:
            return jobs.submit_job(**job)
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.time() > deadline:
                raise
            time.sleep(2)


def default_storage(spec) -> str:
    """A submitted study's storage when none is given: unique per submission, ``BASE/NAME-YYYYmmdd-HHMMSS`` (BASE:
    the study's storage folder when it is absolute or a cloud URI, else ``~/vlpet-runs`` on the cluster)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if is_uri(spec.storage) or os.path.isabs(spec.storage):
        return f"{spec.storage.rstrip('/')}-{stamp}"
    return f"~/vlpet-runs/{spec.name}-{stamp}"


def visible_store(storage: str) -> StudyStore | None:
    """The study store at ``storage`` when this client can see it: cloud storage (checked reachable first), or a
    path that exists here (a shared mount, or a head on this machine); None otherwise."""
    if is_uri(storage):
        check_reachable(storage)
        return StudyStore(storage)
    path = os.path.expanduser(storage)
    return StudyStore(path) if os.path.isabs(path) and os.path.isdir(path) else None


def submit_study(study_path: str, address: str | None, storage: str | None = None, smoke: bool = False,
                 insecure: bool = False, extra_env: dict[str, str] | None = None) -> Submission:
    """Validate locally, then submit ``vlpet run STUDY --address auto`` with the project as the job's code
    (``py_modules``: platform/vlpet) and working directory (search_spaces/ and the rest). A storage that already
    holds a study is refused here when this client can see it (the job refuses it otherwise)."""
    from vlpet.study.runner import already_a_study
    from vlpet.study.spec import load_study

    check_address(dashboard_address(address), insecure)
    spec = load_study(study_path, smoke=smoke)
    storage = storage or default_storage(spec)
    store = visible_store(storage)
    if store is not None and store.holds_study():
        raise already_a_study(storage)
    # The study travels as text in the job's environment, so a study file from anywhere can be submitted.
    with open(study_path, encoding="utf-8") as handle:
        study_text = handle.read()
    command = ["python", "-m", "vlpet.cli", "run", os.path.basename(study_path), "--study-from-env", STUDY_ENV,
               "--address", "auto", "--storage", storage]
    if smoke:
        command.append("--smoke")
    return _submit(command, spec.name, storage, address, insecure, {STUDY_ENV: study_text, **(extra_env or {})})


def submit_resume(storage: str, address: str | None, insecure: bool = False,
                  extra_env: dict[str, str] | None = None) -> Submission:
    """Submit ``vlpet resume STORAGE --address auto``: a submitted study continues on the cluster. Where this client
    can see the storage, it must hold a study."""
    check_address(dashboard_address(address), insecure)
    store = visible_store(storage)
    name = os.path.basename(storage.rstrip("/"))
    if store is not None:
        record = store.read_study()
        if record is None:
            raise ConfigError(f"--resume {storage}: not a study directory (it has no readable study.json)")
        name = record.name
    command = ["python", "-m", "vlpet.cli", "resume", storage, "--address", "auto"]
    return _submit(command, name, storage, address, insecure, dict(extra_env or {}), action="resume")


def _submit(command: list[str], name: str, storage: str, address: str | None, insecure: bool,
            env: dict[str, str], action: str = "run") -> Submission:
    """Send the job; cloud storage takes the AWS settings of this environment along (vlpet.study.cloud)."""
    root = project_root()
    env = {**WORKER_ENV, **(aws_env() if is_uri(storage) else {}), **env}
    jobs = client(address, insecure)
    job_id = _submit_when_ready(
        jobs, entrypoint=_entrypoint(command),
        runtime_env={"working_dir": root, "excludes": UPLOAD_EXCLUDES, "py_modules": [os.path.join(root, "platform", "vlpet")],
                     "env_vars": env},
        metadata={METADATA_KEY: name, "storage": storage, "action": action})
    return Submission(job_id=job_id, dashboard_url=dashboard_address(address), storage=storage)


def _entrypoint(command: list[str]) -> str:
    """The job's shell command; a leading ``~/`` of a path stays unquoted so the cluster's shell expands it."""
    return " ".join("~/" + shlex.quote(part[2:]) if part.startswith("~/") else shlex.quote(part) for part in command)
