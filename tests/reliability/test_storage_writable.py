"""A storage that cannot hold a study (a file, a path under a file) is one line and exit 2 before Ray starts."""

from __future__ import annotations

from pathlib import Path

from vlpet.cli import main

QUICKSTART = str(Path(__file__).resolve().parents[2] / "search_spaces" / "quickstart.yaml")


def test_a_storage_that_is_a_file_is_refused_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    for storage, expected in ((blocker, "is a file, not a directory"),
                              (blocker / "study", "cannot create the study directory")):
        assert main(["run", QUICKSTART, "--smoke", "--storage", str(storage), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]
    assert blocker.read_text() == "not a directory"
