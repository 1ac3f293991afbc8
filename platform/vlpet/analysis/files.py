"""Output files written whole: a reader (or a second ``vlpet report``) never sees half a table, plot or page."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

from vlpet.errors import ConfigError


@contextlib.contextmanager
def whole(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` (same extension, so writers that go by it still do) that replaces
    ``path`` once the block has written it; removed if the block fails. ConfigError (naming ``path``) where it
    cannot be written."""
    if os.path.isdir(path):
        raise ConfigError(f"cannot write {path}: it is a directory (give a file name)")
    directory, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    temporary = os.path.join(directory, f".{stem}.{uuid.uuid4().hex[:12]}.tmp{extension}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:        # a missing or read-only folder, a full disk: one line, not a traceback
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path: str, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` whole; returns ``path``."""
    with whole(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
