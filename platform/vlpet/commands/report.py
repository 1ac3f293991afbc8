"""`vlpet report STUDY_DIR`: one HTML page (frontier, tables, top trials) plus every export, in STUDY_DIR/report."""

from __future__ import annotations

HELP = "write a study's report (report.html, Pareto plot, ablation tables, results frame) into STUDY_DIR/report"


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=HELP + "; works while the study runs.")
    parser.add_argument("study_dir", metavar="STUDY_DIR")
    parser.add_argument("--out", default=None, help="output folder (default: STUDY_DIR/report)")
    parser.add_argument("--include-unfinished", action="store_true", help="count trials stopped before their budget")
    parser.set_defaults(run=run)


def run(args) -> int:
    from vlpet.analysis import write_study_outputs

    for path in write_study_outputs(args.study_dir, args.out, args.include_unfinished):
        print(f"wrote {path}")
    return 0
