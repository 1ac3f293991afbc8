"""One writer per study: ``vlpet run`` and ``vlpet resume`` hold ``STUDY_DIR/.vlpet.lock`` while they run.

On a local or shared POSIX disk the lock file is created exclusively (``O_CREAT | O_EXCL``) and names its holder
(host, pid, command, start time); a second writer is refused with one line naming that holder. A lock whose holder
died is taken over when that can be told for sure: the holder ran on this host and its pid is gone, or (on
another host) the user removes the file after checking. On cloud storage (``s3://``…) object stores offer no
exclusive create through ``pyarrow.fs``: the lock object is checked and then written, which stops a second
writer started later but not two writers started in the same instant (documented in docs/study_directory.md).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

import pyarrow.fs as pafs

from vlpet.errors import ConfigError
from vlpet.study.store import StudyStore

LOCK_FILE = ".vlpet.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # alive, owned by another user
        return True
    return True


class StudyLock:
    """``with StudyLock(study_dir, "run"):`` — exclusive for the block; ConfigError names the current holder."""

    def __init__(self, study_dir: str, command: str):
        self.store = StudyStore(study_dir)
        self.path = self.store.root.rstrip("/") + "/" + LOCK_FILE
        self.command = command
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The lock's current holder as recorded, or None when unlocked ({} when the file is unreadable)."""
        if self.store.fs.get_file_info(self.path).type != pafs.FileType.File:
            return None
        try:
            with self.store.fs.open_input_stream(self.path) as stream:
                payload = json.loads(stream.read().decode())
            return payload if isinstance(payload, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "command": self.command,
                  "argv": " ".join(sys.argv[:3]), "since": time.time()}
        data = json.dumps(record).encode()
        try:                            # the study's first write: a storage that cannot hold it stops here
            if self.store.local and os.path.exists(self.store.root) and not os.path.isdir(self.store.root):
                raise ConfigError(f"{self.store.location} is a file, not a directory: choose another storage")
            self.store.fs.create_dir(self.store.root, recursive=True)
        except OSError as error:
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
            raise ConfigError(f"{self.store.location}: cannot create the study directory ({reason})") from None
        for _ in range(2):
            if self._create(data):
                self.held = True
                return
            holder = self.holder()
            if holder is None:          # released in between
                continue
            if self._stale(holder):
                self.store.fs.delete_file(self.path)
                print(f"warning: removed a stale lock of {self._describe(holder)} (that process is gone)",
                      file=sys.stderr)
                continue
            raise ConfigError(f"{self.store.location} is in use by {self._describe(holder)}: one writer per study "
                              f"(wait for it to end; if it is dead, delete {self.path})")
        raise ConfigError(f"{self.store.location}: could not take the study's lock {self.path}")

    def _create(self, data: bytes) -> bool:
        if self.store.local:
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            except OSError as error:
                raise ConfigError(f"{self.store.location}: cannot write in the study directory ({error.strerror})") from None
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return True
        if self.holder() is not None:
            return False
        with self.store.fs.open_output_stream(self.path) as stream:
            stream.write(data)
        return True

    @staticmethod
    def _stale(holder: dict[str, Any]) -> bool:
        pid = holder.get("pid")
        return (holder.get("host") == socket.gethostname() and isinstance(pid, int) and not isinstance(pid, bool)
                and pid != os.getpid() and not _pid_alive(pid))

    @staticmethod
    def _describe(holder: dict[str, Any]) -> str:
        if not holder:
            return "another vlpet process (its lock file is unreadable)"
        since = holder.get("since")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
        return f"`vlpet {holder.get('command', '?')}` (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {started})"

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        holder = self.holder()
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            try:
                self.store.fs.delete_file(self.path)
            except OSError:
                pass

    def __enter__(self) -> "StudyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
