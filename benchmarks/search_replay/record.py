"""Re-record the search-replay table: run the grid study with the real platform, then write its table.

    python -m benchmarks.search_replay.record [--storage runs/search-replay-grid] [--from-study DIR] [--out CSV]

Runs ``vlpet run benchmarks/search_replay/grid_quickstart.yaml`` (every configuration x seed to its full budget,
no early stopping; about 25 minutes on 2 quiet cores, far longer on a loaded machine), then reads the study's store
and writes ``benchmarks/search_replay/grid_quickstart.csv``. ``--from-study`` skips the run and converts a study
recorded before (or one that a ``vlpet resume`` completed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from benchmarks.search_replay.replay import STUDY, TABLE
from benchmarks.search_replay.table import Recorded, table_from_study, write_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def record(storage: str) -> None:
    """Run the grid study into ``storage`` with the ``vlpet`` of this interpreter's environment."""
    vlpet = os.path.join(os.path.dirname(sys.executable), "vlpet")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}       # an embedded Ray of its own
    subprocess.run([vlpet, "run", STUDY, "--storage", storage, "--quiet"], cwd=REPO, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_replay.record",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="runs/search-replay-grid", help="the study directory to record into")
    parser.add_argument("--from-study", metavar="DIR", help="convert this recorded study instead of running one")
    parser.add_argument("--out", default=TABLE, help="the table to write (CSV)")
    args = parser.parse_args(argv)
    study = args.from_study
    if study is None:
        record(args.storage)
        study = args.storage
    table = table_from_study(os.path.join(REPO, study) if not os.path.isabs(study) else study)
    write_table(table, args.out)
    recorded = Recorded(table)              # refuses a table that is not a complete grid
    print(f"{args.out}: {len(recorded.configs)} configurations x {len(recorded.seeds)} seeds, {len(table)} "
          f"evaluations, {recorded.total_compute_s:.0f} s of compute charged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
