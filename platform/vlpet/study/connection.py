"""Reaching Ray: the cluster token, token authentication for an explicit address, and the driver's connection.

Token authentication (Ray 2.60): clients do not send the cluster's token on their own (field_notes §3d). The
token is taken from ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``. Ray reads
``RAY_AUTH_MODE`` when it is imported, so :func:`prepare_auth` runs before the first ``import ray``.

The token is a secret: an embedded Ray would create ``~/.ray/auth_token`` itself with the umask's mode (0644,
readable by every local user), so before it starts vlpet writes the token there first, in a 0700 directory with
mode 0600 (as Ray would, 256 random bits), and afterwards tightens a token file that is readable by others.
"""

from __future__ import annotations

import os
import secrets
import stat

# Quiet trial processes: no per-trial weight-loading progress bars or tokenizer fork warnings in the study log.
WORKER_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}


def default_token_path() -> str:
    """Ray's default token file, ``~/.ray/auth_token``."""
    return os.path.expanduser(os.path.join("~", ".ray", "auth_token"))


def auth_token() -> str | None:
    """The cluster token from the environment or Ray's token file, if any."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or default_token_path()
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    return None


def prepare_auth(address: str | None) -> None:
    """Before Ray is imported (it reads RAY_AUTH_MODE then): an explicit cluster address never enables token
    authentication on its own, so turn it on when a token is at hand."""
    if address and address != "auto" and auth_token():
        os.environ["RAY_AUTH_MODE"] = "token"


def connect_ray(address: str | None, num_cpus: int | None = None) -> str | None:
    """Join ``address`` or start an embedded local Ray (dashboard on 127.0.0.1); returns the dashboard URL.
    Already connected: keeps that connection. Call :func:`prepare_auth` before Ray is first imported."""
    import ray

    for key, value in WORKER_ENV.items():                      # inherited by the trial processes
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        return _http_url(_dashboard_url())
    if address:
        context = ray.init(address=address, log_to_driver=True, **_worker_runtime_env())
    else:
        ensure_private_token()
        context = ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=True,
                           dashboard_host="127.0.0.1")
        tighten_token_files()
    return _http_url(getattr(context, "dashboard_url", None))


def _worker_runtime_env() -> dict:
    """Trial processes on a cluster do not inherit this driver's environment: the AWS settings of cloud storage
    (vlpet.study.cloud) go with the connection. Inside a Ray job they already come with the job's own
    environment (vlpet submit forwards them), which a driver's runtime_env would replace."""
    from vlpet.study.cloud import aws_env

    settings = aws_env()
    if not settings or os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        return {}
    return {"runtime_env": {"env_vars": settings}}


def ensure_private_token() -> None:
    """Before an embedded Ray starts with token authentication (its default): when no token exists yet, write
    one to ``~/.ray/auth_token`` with mode 0600 in a 0700 directory, so Ray reads it instead of creating a
    world-readable one."""
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token" or auth_token():
        return
    path = default_token_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:                     # another process wrote one meanwhile: keep it, tighten it below
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32))     # Ray's own format: 256 random bits as hex


def tighten_token_files() -> None:
    """Make this user's token files (the default one and ``RAY_AUTH_TOKEN_PATH``) readable by this user only."""
    for path in {default_token_path(), os.environ.get("RAY_AUTH_TOKEN_PATH") or default_token_path()}:
        try:
            info = os.stat(path)
            if info.st_uid == os.getuid() and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(path, 0o600)
        except OSError:                         # no such file, or not ours to change
            continue


def _dashboard_url() -> str | None:
    import ray

    try:
        context = ray.get_runtime_context()
        return context.get_dashboard_url() if hasattr(context, "get_dashboard_url") else None
    except Exception:  # noqa: BLE001 - the URL is informative only
        return None


def _http_url(url: str | None) -> str | None:
    return f"http://{url}" if url and not url.startswith("http") else url
