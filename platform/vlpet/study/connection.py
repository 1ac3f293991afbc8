"""Reaching Ray: the cluster token, token authentication for an explicit address, and the driver's connection.

Token authentication (Ray 2.60): clients do not send the cluster's token on their own (field_notes §3d). The
token is taken from ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``. Ray reads
``RAY_AUTH_MODE`` when it is imported, so :func:`prepare_auth` runs before the first ``import ray``.
"""

from __future__ import annotations

import os

# Quiet trial processes: no per-trial weight-loading progress bars or tokenizer fork warnings in the study log.
WORKER_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}


def auth_token() -> str | None:
    """The cluster token from the environment or Ray's token file, if any."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser(os.path.join("~", ".ray", "auth_token"))
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
        context = ray.init(address=address, log_to_driver=True)
    else:
        context = ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=True,
                           dashboard_host="127.0.0.1")
    return _http_url(getattr(context, "dashboard_url", None))


def _dashboard_url() -> str | None:
    import ray

    try:
        context = ray.get_runtime_context()
        return context.get_dashboard_url() if hasattr(context, "get_dashboard_url") else None
    except Exception:  # noqa: BLE001 - the URL is informative only
        return None


def _http_url(url: str | None) -> str | None:
    return f"http://{url}" if url and not url.startswith("http") else url
