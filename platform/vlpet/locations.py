"""Where a study or a trial may write: a study's ``storage``, ``vlpet run --storage``, ``vlpet train --out``.

The policy (checked before anything is written or any Ray process starts):

* a cloud URI with a known scheme (``s3://``, ``gs://``, ``gcs://``, ``abfs://``, ``abfss://``, ``hdfs://``,
  ``viewfs://``) is taken as given; other schemes are refused. A ``file://`` URI is checked as the path the
  filesystem layer (pyarrow, which Ray Tune and the study store write through) will open: percent-decoded
  (``file:///%65tc`` is ``/etc``), then normalised and resolved like a plain path. A host, a query or a fragment
  is refused (pyarrow would drop them silently). Plain paths are not decoded by pyarrow, so neither are they here;
* a relative path may not contain ``..``: it would climb out of the working directory. An absolute path is taken
  as deliberate, so ``/data/studies/x`` is fine;
* once ``~`` is expanded, the path normalised and symlinks resolved, it may not be or lie inside a protected
  directory: a system directory (``/etc``, ``/usr``, ``/bin``, ``/proc``, ...), a credentials directory of the
  user (``~/.ssh``, ``~/.aws``, ``~/.gnupg``, ``~/.config/gcloud``, ``~/.kube``, ``~/.docker``, ``~/.ray``, ...),
  vlpet's data cache (``$VLPET_CACHE`` or ``~/.cache/vlpet``: the quickstart's data and backbones), the installed
  vlpet package, or the project checkout's code (its root and every top-level entry except ``runs/``, where
  ``make quickstart`` writes studies, and except names that do not exist yet);
* it may not be exactly a shared root (``/``, ``/home``, ``/tmp``, ``/var``, the user's home, the working
  directory): a study fills its directory with files and folders;
* no control characters, at most 1024 characters, each component at most 255 bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vlpet.errors import ConfigError, show

CLOUD_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
                "/usr", "/snap", "/System", "/private/etc")
SHARED_ROOTS = ("/", "/home", "/root", "/var", "/opt", "/mnt", "/media", "/srv", "/tmp", "/run", "/Users",
                "/Volumes", "/private", "/private/var", "/private/tmp")
# Under the user's home: where keys, tokens and cloud credentials live (a study there could overwrite or expose them).
CREDENTIAL_TREES = (".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".ray", ".azure", ".config/gh",
                    ".netrc", ".git-credentials", ".pki", ".password-store", ".local/share/keyrings", ".huggingface",
                    ".cache/huggingface", ".oci", ".terraform.d", ".config/rclone")
CHECKOUT_OUTPUTS = ("runs",)   # the checkout's folder for studies (make quickstart writes runs/quickstart-...)
PACKAGE_DIR = Path(__file__).resolve().parent
MAX_LENGTH = 1024


def data_cache_root() -> Path:
    """vlpet's data cache: ``$VLPET_CACHE`` or ``~/.cache/vlpet`` (the quickstart's data and pretrained backbones)."""
    return Path(os.environ.get("VLPET_CACHE") or Path.home() / ".cache" / "vlpet")


def project_checkout() -> Path | None:
    """The source checkout the running vlpet comes from (the nearest folder above the package holding ``.git``
    or ``pyproject.toml``); None for an installed (site-packages) vlpet."""
    if any(part in ("site-packages", "dist-packages") for part in PACKAGE_DIR.parts):
        return None
    return next((p for p in PACKAGE_DIR.parents if (p / ".git").exists() or (p / "pyproject.toml").is_file()), None)


def check_output_location(value: Any, key: str) -> str:
    """``value`` if it is a place a study or trial may write to (see the module's policy), else ConfigError."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a directory path or a cloud URI (s3://BUCKET/PATH), got {show(value)}")
    _check_characters(value, key, value)
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme == "file":
            for path in _file_uri_paths(value, key):
                _check_local(path, key, value)
        elif scheme not in CLOUD_SCHEMES:
            raise ConfigError(f"{key}: URI scheme {show(scheme)} is not supported; use a local directory or one of "
                              f"{', '.join(s + '://' for s in ('file', *CLOUD_SCHEMES))} (in lower case)")
        elif not rest.strip("/"):
            raise ConfigError(f"{key}: {show(value)} names no bucket or path")
        return value
    _check_local(value, key, value)
    return value


def _check_characters(text: str, key: str, given: str) -> None:
    if len(text) > MAX_LENGTH or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise ConfigError(f"{key}: {show(given)} has control characters or is over {MAX_LENGTH} characters")


def _file_uri_paths(uri: str, key: str) -> list[str]:
    """The local path(s) a ``file://`` URI opens: percent-decoded here, and as pyarrow itself reads it."""
    parts = urlsplit(uri)
    if parts.netloc or parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise ConfigError(f"{key}: {show(uri)}: a file:// URI may have no host, query or fragment; write "
                          "file:///ABSOLUTE/PATH or a plain path")
    decoded = unquote(parts.path)
    _check_characters(decoded, key, uri)
    try:
        from pyarrow.fs import FileSystem

        opened = FileSystem.from_uri(uri)[1]
    except Exception as error:  # noqa: BLE001 - any pyarrow refusal means the study could not be written there
        raise ConfigError(f"{key}: {show(uri)} is not a file URI the filesystem layer accepts ({error})") from None
    return list(dict.fromkeys((decoded, opened)))


def _check_local(path: str, key: str, given: str) -> None:
    parts = path.replace("\\", "/").split("/")
    if any(len(part.encode()) > 255 for part in parts):
        raise ConfigError(f"{key}: {show(given)} has a path component over 255 bytes")
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded) and ".." in parts:
        raise ConfigError(f"{key}: {show(given)} climbs out of the working directory with '..'; use a path inside "
                          "it (e.g. runs/NAME) or an absolute path")
    for resolved in dict.fromkeys((os.path.normpath(os.path.abspath(expanded)), os.path.realpath(expanded))):
        _refuse_protected(resolved, key, given)


def _forms(path: str | Path) -> set[str]:
    """A directory as written (normalised) and with its symlinks resolved."""
    return {os.path.normpath(os.path.abspath(path)), os.path.realpath(path)}


def _inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _protected_trees() -> list[tuple[str, str]]:
    """(directory, what it is) for every tree a study may not write into."""
    home = os.path.expanduser("~")
    trees = [(t, "the system directory") for t in SYSTEM_TREES]
    trees += [(os.path.join(home, t), "the credentials directory") for t in CREDENTIAL_TREES]
    trees += [(str(data_cache_root()), "vlpet's data cache"), (str(PACKAGE_DIR), "the installed vlpet package")]
    checkout = project_checkout()
    if checkout is not None:
        trees += [(str(entry), "the project checkout's") for entry in checkout.iterdir()
                  if entry.name not in CHECKOUT_OUTPUTS]
    return [(form, what) for tree, what in trees for form in _forms(tree)]


def _refuse_protected(resolved: str, key: str, given: str) -> None:
    for tree, what in _protected_trees():
        if _inside(resolved, tree):
            raise ConfigError(f"{key}: {show(given)} resolves to {resolved}, inside {what} {tree}; write studies "
                              "under a project or data directory of their own (e.g. runs/NAME)")
    checkout = project_checkout()
    roots = {*SHARED_ROOTS, os.path.expanduser("~"), os.getcwd(),
             *([str(checkout), *(str(checkout / name) for name in CHECKOUT_OUTPUTS)] if checkout else [])}
    if resolved in {form for root in roots for form in _forms(root)}:
        raise ConfigError(f"{key}: {show(given)} resolves to {resolved}, a shared directory a study would litter; "
                          "give a subdirectory of its own (e.g. runs/NAME)")
