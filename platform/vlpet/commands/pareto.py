"""`vlpet pareto STUDY_DIR... --out pareto.png`: the efficiency-vs-accuracy frontier (PNG and HTML)."""

from __future__ import annotations

HELP = "Pareto frontier of one or more studies: prints it, writes the PNG plot and an interactive HTML beside it"


def register(subparsers) -> None:
    parser = subparsers.add_parser("pareto", help=HELP, description=HELP)
    parser.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR")
    parser.add_argument("--objectives", default=None,
                        help="column:max|min pairs, comma-separated (default: the study's, else metric:max,trainable_pct:min)")
    parser.add_argument("--out", default="pareto.png", help="PNG path (the HTML goes beside it)")
    parser.add_argument("--per-trial", action="store_true", help="single trials instead of seed-averaged configurations")
    parser.add_argument("--include-unfinished", action="store_true", help="count trials stopped before their budget")
    parser.set_defaults(run=run)


def parse_objectives(text: str) -> dict[str, str]:
    from vlpet.errors import ConfigError

    objectives = {}
    for part in text.split(","):
        column, _, direction = part.strip().partition(":")
        if direction not in ("max", "min") or not column:
            raise ConfigError(f"--objectives: {part!r} is not COLUMN:max or COLUMN:min")
        objectives[column] = direction
    return objectives


def run(args) -> int:
    import os

    from vlpet.analysis import load_results, pareto_front, read_objectives
    from vlpet.analysis.results import reported_objectives
    from vlpet.analysis.plots import pareto_html, pareto_png

    frame = load_results(*args.study_dirs)
    objectives = (parse_objectives(args.objectives) if args.objectives
                  else reported_objectives(frame, read_objectives(args.study_dirs[0])))
    front = pareto_front(frame, objectives, by_config=not args.per_trial, include_unfinished=args.include_unfinished)
    columns = [c for c in ("study", "arm", "sampled", *objectives, *(f"{o}_std" for o in objectives), "n") if c in front]
    print(front[columns].to_string(index=False) if not front.empty else "no finished trials yet")
    if not front.empty:
        png = pareto_png(frame, args.out, objectives, args.include_unfinished)
        html = pareto_html(frame, os.path.splitext(args.out)[0] + ".html", objectives, args.include_unfinished)
        print(f"wrote {png} and {html}")
    return 0
