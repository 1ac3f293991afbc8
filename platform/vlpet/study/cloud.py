"""Cloud storage (``s3://``…) for a study: reachability before Ray starts, the AWS settings the trial processes
need, and the Optuna database kept with the study.

* The endpoint and credentials are the user's standard AWS environment: ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``), ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and, for an S3-compatible
  server, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``; pyarrow (which the store and Ray Tune write through)
  reads them itself. Nothing is hard-coded.
* :func:`check_reachable` asks the storage once, with a short connect timeout and no retries, so an unreachable
  endpoint, a missing bucket or refused credentials is one line (exit 2) within seconds, before Ray starts.
* The Optuna sqlite database cannot live on an object store (sqlite needs a POSIX file). The driver keeps its
  working copy on local disk (:func:`local_optuna_dir`) and puts it whole as ``STUDY_DIR/optuna.db`` after each
  completed trial (:class:`OptunaUpload`) and when the run ends (:func:`upload_optuna`); ``vlpet resume``
  downloads that object before it continues (:func:`download_optuna`), so any machine can resume the study.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
import uuid

import pyarrow.fs as pafs

from vlpet.errors import ConfigError

OPTUNA_FILE = "optuna.db"
# The AWS settings the trial processes need to reach the same storage (forwarded to a cluster's workers and jobs).
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
           "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_CA_BUNDLE")
CHECK_TIMEOUT_S = 5.0


def is_cloud(location: str) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def aws_env() -> dict[str, str]:
    """The AWS variables set in this process (for trial processes that do not inherit its environment)."""
    return {key: os.environ[key] for key in AWS_ENV if os.environ.get(key)}


def _quick_filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``location``; for S3 one that fails fast (short timeouts, one attempt)."""
    filesystem, path = pafs.FileSystem.from_uri(location)
    if location.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            options = ({"endpoint_override": host.rstrip("/"), "scheme": scheme} if host
                       else {"endpoint_override": endpoint})
        filesystem = pafs.S3FileSystem(
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            connect_timeout=2, request_timeout=4,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1), **options)
    return filesystem, path


def check_reachable(location: str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """ConfigError (one line) unless the cloud storage ``location`` answers: its bucket exists and the
    credentials may write there (a small probe object is put and deleted). Plain paths are not checked here. Gives up after ``timeout_s``."""
    if not is_cloud(location):
        return
    outcome: list[BaseException | None] = []

    def probe() -> None:
        try:
            filesystem, path = _quick_filesystem(location)
            bucket = path.split("/", 1)[0]
            if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise FileNotFoundError(f"no bucket {bucket!r} found there (missing, or the endpoint does not "
                                        "answer)")
            filesystem.create_dir(path, recursive=True)                          # may we write there?
            probe_key = f"{path.rstrip('/')}/.vlpet-probe-{uuid.uuid4().hex[:8]}"
            with filesystem.open_output_stream(probe_key) as stream:
                stream.write(b"vlpet")
            filesystem.delete_file(probe_key)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - reported to the caller as one line
            outcome.append(error)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "the default endpoint"
    if not outcome:
        raise ConfigError(f"storage {location}: no answer from {endpoint} within {timeout_s:.0f} s (check the "
                          "network, AWS_ENDPOINT_URL and AWS_REGION)")
    if outcome[0] is not None:
        reason = " ".join(str(outcome[0]).split())[:300]
        raise ConfigError(f"storage {location} is not reachable through {endpoint}: {reason} (check the bucket, "
                          "AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and AWS_REGION)")


def local_optuna_dir(study_dir: str, name: str) -> str:
    """The driver's working directory for a cloud study's Optuna database: ``runs/.cloud/NAME-<hash of the
    study's URI>`` (two cloud studies of one name do not share it)."""
    digest = hashlib.sha1(study_dir.encode()).hexdigest()[:8]
    directory = os.path.abspath(os.path.join("runs", ".cloud", f"{name}-{digest}"))
    os.makedirs(directory, exist_ok=True)
    return directory


def _remote(study_dir: str) -> tuple[pafs.FileSystem, str]:
    filesystem, root = pafs.FileSystem.from_uri(study_dir)
    return filesystem, f"{root.rstrip('/')}/{OPTUNA_FILE}"


def upload_optuna(local_db: str, study_dir: str) -> bool:
    """Put a consistent copy of the local Optuna database whole as ``STUDY_DIR/optuna.db`` (sqlite's backup,
    then one put). False when there is no local database yet."""
    if not os.path.isfile(local_db):
        return False
    with tempfile.TemporaryDirectory(prefix="vlpet-optuna-") as scratch:
        snapshot = os.path.join(scratch, OPTUNA_FILE)
        source, target = sqlite3.connect(local_db), sqlite3.connect(snapshot)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        filesystem, remote = _remote(study_dir)
        with open(snapshot, "rb") as handle, filesystem.open_output_stream(remote) as stream:
            stream.write(handle.read())
    return True


def download_optuna(study_dir: str, local_db: str) -> bool:
    """Replace the local working copy with the study's ``STUDY_DIR/optuna.db`` (written whole: a temporary file
    renamed). Where the study has none yet (its driver died before any trial ended), the local copy is removed:
    the search starts its Optuna study afresh. Returns whether one was downloaded."""
    filesystem, remote = _remote(study_dir)
    if filesystem.get_file_info(remote).type != pafs.FileType.File:
        remove_local_optuna(local_db)
        return False
    tmp = f"{local_db}.{uuid.uuid4().hex}.tmp"
    with filesystem.open_input_stream(remote) as stream, open(tmp, "wb") as handle:
        while block := stream.read(1 << 20):
            handle.write(block)
    os.replace(tmp, local_db)
    return True


def remove_local_optuna(local_db: str) -> None:
    """A new cloud study starts without a stale working copy (of an earlier study at the same URI)."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(local_db + suffix)
        except FileNotFoundError:
            pass


def optuna_upload_callback(local_db: str, study_dir: str):
    """A Tune callback that uploads the Optuna database after every trial that ends (each configuration is told
    to Optuna when its last seed ends) and when the experiment ends."""
    from ray.tune import Callback

    class OptunaUpload(Callback):
        def _upload(self) -> None:
            upload_optuna(local_db, study_dir)

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self._upload()

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self._upload()

        def on_experiment_end(self, trials, **info) -> None:
            self._upload()

    return OptunaUpload()
