"""`vlpet export STUDY_DIR... --by FACTORS --format md|latex|csv|json`: ablation tables, mean ± std over seeds."""

from __future__ import annotations

HELP = "ablation table of one or more studies (mean ± std over seeds; finished trials only by default)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help=HELP, description=HELP + ". Columns: each task metric, the "
                                   "trainable %% and the seed count; best bold, second best underlined.")
    parser.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR")
    parser.add_argument("--by", default=None, help="comma-separated factors (columns of the results frame, e.g. "
                        "arm,granularity); default: arm and the searched setting")
    parser.add_argument("--metrics", default=None, help="comma-separated metric columns (default: the task metrics)")
    parser.add_argument("--format", default="md", choices=("md", "latex", "csv", "json"))
    parser.add_argument("--out", default=None, help="write to FILE instead of printing")
    parser.add_argument("--results", action="store_true", help="export the per-trial results frame instead "
                        "(csv, or parquet when --out ends in .parquet)")
    parser.add_argument("--include-unfinished", action="store_true", help="count trials stopped before their budget")
    parser.set_defaults(run=run)


def split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def run(args) -> int:
    from vlpet.analysis import ablation_table, load_results, render_table
    from vlpet.analysis.files import write_text
    from vlpet.analysis.results import export_frame

    frame = load_results(*args.study_dirs)
    if args.results:
        if not args.out:
            print(frame.to_csv(index=False), end="")
        else:
            print(f"wrote {export_frame(frame, args.out)}")
        return 0
    table = ablation_table(frame, by=split(args.by), metrics=split(args.metrics),
                           include_unfinished=args.include_unfinished)
    text = render_table(table, args.format, caption=f"Ablation of {', '.join(args.study_dirs)}")
    if args.out:
        print(f"wrote {write_text(args.out, text)}")
    else:
        print(text, end="")
    return 0
