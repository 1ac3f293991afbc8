"""Where the cluster token comes from, and when token authentication is turned on for Ray's clients."""

from __future__ import annotations

import os

import pytest

from vlpet.study.connection import auth_token, prepare_auth


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    # Set, then deleted: monkeypatch restores only what it recorded, and prepare_auth may set this variable.
    monkeypatch.setenv("RAY_AUTH_MODE", "")
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "absent"))
    return tmp_path


def test_the_token_comes_from_the_environment_before_the_token_file(no_token, monkeypatch):
    assert auth_token() is None
    (no_token / "token").write_text("from-file\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(no_token / "token"))
    assert auth_token() == "from-file"
    monkeypatch.setenv("RAY_AUTH_TOKEN", " from-env ")
    assert auth_token() == "from-env"


@pytest.mark.parametrize("address, token, mode", [
    ("10.0.0.1:6379", "secret", "token"),       # an explicit address never turns auth on by itself
    ("auto", "secret", None),                   # Ray enables it for a local cluster found automatically
    (None, "secret", None),                     # embedded local Ray
    ("10.0.0.1:6379", None, None),              # nothing to send
])
def test_token_auth_is_turned_on_only_for_an_explicit_address_with_a_token(no_token, monkeypatch, address, token,
                                                                           mode):
    if token:
        monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    prepare_auth(address)
    assert os.environ.get("RAY_AUTH_MODE") == mode
