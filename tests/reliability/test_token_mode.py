"""The cluster token is a secret (issue 18.3): an embedded Ray started by vlpet leaves ``~/.ray/auth_token`` with
mode 0600 in a 0700 directory. Ray itself writes it with the umask's mode (shown first, on a real local Ray); each
case runs in a fresh process with a temporary HOME and its own Ray temp folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from vlpet.study.connection import tighten_token_files

START = {
    "ray": "import ray; ray.init(address='local', num_cpus=1, include_dashboard=False); ray.shutdown()",
    "vlpet": "import ray; from vlpet.study.connection import connect_ray; connect_ray(None, 1); ray.shutdown()",
}


@pytest.fixture
def home():
    """A fresh HOME and a short Ray temp folder (Ray's socket paths must stay short)."""
    root = Path(tempfile.mkdtemp(prefix="vt-", dir="/tmp"))
    (root / "home").mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def start(which: str, root: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(root / "home"), RAY_TMPDIR=str(root / "r"))
    done = subprocess.run([sys.executable, "-c", START[which]], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "home" / ".ray" / "auth_token"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ray_alone_writes_the_token_readable_by_others_and_vlpet_does_not(home):
    umask = os.umask(0)
    os.umask(umask)
    raw = start("ray", home)
    assert mode(raw) == 0o666 & ~umask                  # Ray's own file: 0644 under the usual umask 022
    shutil.rmtree(raw.parent)                           # a fresh HOME again
    token = start("vlpet", home)
    assert mode(token) == 0o600 and mode(token.parent) == 0o700
    assert len(token.read_text().strip()) == 64         # 256 random bits, hex, as Ray makes them


def test_an_existing_token_readable_by_others_is_tightened_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("old-token")
    token.chmod(0o644)
    tighten_token_files()
    assert mode(token) == 0o600 and token.read_text() == "old-token"
