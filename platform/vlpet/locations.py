"""Where a study or a trial may write: a study's ``storage``, ``vlpet run --storage``, ``vlpet train --out``.

The policy (checked before anything is written or any Ray process starts):

* a cloud URI with a known scheme (``s3://``, ``gs://``, ``gcs://``, ``abfs://``, ``abfss://``, ``hdfs://``,
  ``viewfs://``) is taken as given; a ``file://`` URI is checked as the local path it names; other schemes are
  refused;
* a relative path may not contain ``..``: it would climb out of the working directory. An absolute path is taken
  as deliberate, so ``/data/studies/x`` is fine;
* once ``~`` is expanded and symlinks are resolved, the path may not be or lie inside a system directory
  (``/etc``, ``/usr``, ``/bin``, ``/proc``, ...), and may not be exactly a shared root (``/``, ``/home``, ``/tmp``,
  ``/var``, the user's home, the working directory): a study fills its directory with files and folders;
* no control characters, at most 1024 characters, each component at most 255 bytes.
"""

from __future__ import annotations

import os
from typing import Any

from vlpet.errors import ConfigError, show

CLOUD_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
                "/usr", "/snap", "/System", "/private/etc")
SHARED_ROOTS = ("/", "/home", "/root", "/var", "/opt", "/mnt", "/media", "/srv", "/tmp", "/run", "/Users",
                "/Volumes", "/private", "/private/var", "/private/tmp")
MAX_LENGTH = 1024


def check_output_location(value: Any, key: str) -> str:
    """``value`` if it is a place a study or trial may write to (see the module's policy), else ConfigError."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a directory path or a cloud URI (s3://BUCKET/PATH), got {show(value)}")
    if len(value) > MAX_LENGTH or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ConfigError(f"{key}: {show(value)} has control characters or is over {MAX_LENGTH} characters")
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme.lower() == "file":
            _check_local(rest, key, value)
        elif scheme.lower() not in CLOUD_SCHEMES:
            raise ConfigError(f"{key}: URI scheme {show(scheme)} is not supported; use a local directory or one of "
                              f"{', '.join(s + '://' for s in CLOUD_SCHEMES)}")
        elif not rest.strip("/"):
            raise ConfigError(f"{key}: {show(value)} names no bucket or path")
        return value
    _check_local(value, key, value)
    return value


def _check_local(path: str, key: str, given: str) -> None:
    parts = path.replace("\\", "/").split("/")
    if any(len(part.encode()) > 255 for part in parts):
        raise ConfigError(f"{key}: {show(given)} has a path component over 255 bytes")
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded) and ".." in parts:
        raise ConfigError(f"{key}: {show(given)} climbs out of the working directory with '..'; use a path inside "
                          "it (e.g. runs/NAME) or an absolute path")
    for resolved in dict.fromkeys((os.path.normpath(os.path.abspath(expanded)), os.path.realpath(expanded))):
        _refuse_system(resolved, key, given)


def _refuse_system(resolved: str, key: str, given: str) -> None:
    tree = next((t for t in SYSTEM_TREES if resolved == t or resolved.startswith(t + "/")), None)
    if tree:
        raise ConfigError(f"{key}: {show(given)} resolves to {resolved}, inside the system directory {tree}; "
                          "write studies under a project or data directory")
    roots = {*SHARED_ROOTS, os.path.expanduser("~"), os.getcwd()}
    if resolved in {os.path.normpath(r) for r in roots}:
        raise ConfigError(f"{key}: {show(given)} resolves to {resolved}, a shared directory a study would litter; "
                          "give a subdirectory of its own (e.g. runs/NAME)")
