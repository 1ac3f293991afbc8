"""Storage locations are checked on the path the filesystem layer opens (issue 18.3): ``file://`` URIs
percent-decoded as pyarrow decodes them, paths normalised and symlinks resolved; credentials directories, vlpet's
data cache and the project checkout's code are refused like system directories, while ``runs/`` in the checkout
stays the place for studies. Every case goes through the real CLI (``vlpet validate`` on a real study file,
``vlpet run --storage`` and ``vlpet train --out``), and nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs
import pytest

from vlpet.cli import main
from vlpet.locations import PACKAGE_DIR, check_output_location, project_checkout

HERE = Path(__file__).parent
CHECKOUT = project_checkout()
STUDY = (HERE / "control_study.yaml").read_text()
QUICKSTART_TRIAL = str(HERE.parents[1] / "search_spaces" / "trials" / "quickstart.yaml")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A temporary HOME with credentials directories, and vlpet's cache in it."""
    home = tmp_path / "home"
    for name in (".ssh", ".aws", ".config/gcloud", ".ray", ".cache/vlpet"):
        (home / name).mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("VLPET_CACHE", raising=False)
    return home


def validate(tmp_path: Path, storage: str, capsys) -> tuple[int, str]:
    study = tmp_path / "study.yaml"
    study.write_text(STUDY + f"storage: {storage!r}\n")
    status = main(["validate", str(study)])
    return status, capsys.readouterr().err.strip()


def refused(tmp_path: Path, storage: str, capsys) -> str:
    status, err = validate(tmp_path, storage, capsys)
    assert status == 2 and len(err.splitlines()) == 1, (storage, status, err)
    assert err.startswith("vlpet validate: error: storage: ")
    return err


@pytest.mark.parametrize("uri, opened", [
    ("file:///%65tc/x", "/etc/x"),
    ("file:///tmp/%2e%2e/etc/x", "/tmp/../etc/x"),
    ("file:///%74mp", "/tmp"),
])
def test_pyarrow_opens_the_decoded_path_and_the_policy_checks_that_path(uri, opened, tmp_path, capsys):
    assert pyarrow.fs.FileSystem.from_uri(uri)[1] == opened          # what Ray Tune and the store would open
    err = refused(tmp_path, uri, capsys)
    assert os.path.normpath(opened) in err
    assert ("system directory /etc" in err) if "etc" in opened else ("a shared directory" in err)


@pytest.mark.parametrize("uri, expect", [
    ("file://localhost/tmp/x", "no host, query or fragment"),
    ("file:///tmp/x?a=1", "no host, query or fragment"),
    ("file:///tmp/x#y", "no host, query or fragment"),
    ("file:///tmp/a%00b", "control characters"),
    ("FILE:///tmp/x", "in lower case"),
])
def test_file_uris_pyarrow_would_misread_are_refused(uri, expect, tmp_path, capsys):
    assert expect in refused(tmp_path, uri, capsys)


def test_an_encoded_but_harmless_file_uri_still_validates(tmp_path, capsys):
    assert validate(tmp_path, f"file://{tmp_path}/a%20study", capsys)[0] == 0


@pytest.mark.parametrize("where", ["~/.ssh", "~/.ssh/study", "~/.aws/x", "~/.config/gcloud/x", "~/.ray/x",
                                   "~/.kube/x", "~/.docker/x", "~/.gnupg/x"])
def test_credentials_directories_are_refused(where, home, tmp_path, capsys):
    err = refused(tmp_path, where, capsys)
    assert "inside the credentials directory " + str(home) in err


def test_a_symlink_into_a_credentials_directory_is_refused(home, tmp_path, capsys):
    (tmp_path / "innocent").symlink_to(home / ".ssh")
    assert "credentials directory" in refused(tmp_path, str(tmp_path / "innocent" / "study"), capsys)
    assert "credentials directory" in refused(tmp_path, f"file://{tmp_path}/inno%63ent/study", capsys)


def test_the_data_cache_is_refused_default_and_overridden(home, tmp_path, monkeypatch, capsys):
    assert "vlpet's data cache" in refused(tmp_path, "~/.cache/vlpet/quickstart/x", capsys)
    monkeypatch.setenv("VLPET_CACHE", str(tmp_path / "cache"))
    assert "vlpet's data cache" in refused(tmp_path, str(tmp_path / "cache" / "x"), capsys)
    from vlpet.data.quickstart import cache_root            # the quickstart keeps its data where the policy looks

    assert cache_root() == tmp_path / "cache"


@pytest.mark.skipif(CHECKOUT is None, reason="vlpet is installed, not run from a checkout")
@pytest.mark.parametrize("inside", ["", "platform", "platform/vlpet/x", "docs/x", "tests/x", ".git/x"])
def test_the_checkout_and_its_code_are_refused(inside, tmp_path, capsys):
    err = refused(tmp_path, str(CHECKOUT / inside), capsys)
    assert ("project checkout" in err or "installed vlpet package" in err) if inside else "shared directory" in err


@pytest.mark.skipif(CHECKOUT is None, reason="vlpet is installed, not run from a checkout")
def test_runs_in_the_checkout_stays_allowed(tmp_path, capsys, monkeypatch):
    assert validate(tmp_path, str(CHECKOUT / "runs" / "quickstart-20990101-000000"), capsys)[0] == 0
    monkeypatch.chdir(CHECKOUT)
    assert check_output_location("runs/quickstart-20990101-000000", "storage")      # what make quickstart gives


def test_the_installed_package_is_refused():
    with pytest.raises(Exception, match="installed vlpet package|project checkout"):
        check_output_location(str(PACKAGE_DIR / "x"), "storage")


def test_run_and_train_refuse_decoded_locations_before_anything_starts(home, tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(STUDY)
    for argv in (["run", "--smoke", str(study), "--storage", "file:///%65tc/vlpet"],
                 ["train", QUICKSTART_TRIAL, "--out", "file:///h%6fme/../etc/x"],
                 ["train", QUICKSTART_TRIAL, "--out", "~/.ssh/out"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("/etc" in err or ".ssh" in err), err
    assert not (home / ".ssh" / "out").exists()
