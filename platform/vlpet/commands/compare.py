"""`vlpet compare STUDY_DIR... --metric M --baseline LABEL --test t|wilcoxon|bootstrap`: paired statistics."""

from __future__ import annotations

HELP = ("paired comparison of configurations over their shared seeds: each against the best (or --baseline), "
        "with the mean difference and its interval (95 percent by default), the p-value and the Holm-corrected one")
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test (bootstrap interval)",
              "bootstrap": "paired bootstrap interval and sign-flip permutation test"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help=HELP, description=HELP + ". Finished trials only; a pair with "
                                   "fewer than two shared seeds gets no test.")
    parser.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR")
    parser.add_argument("--metric", default=None, help="the column compared (default: test_metric, the primary "
                        "task metric on the held-out test split, where the trials were tested; else metric)")
    parser.add_argument("--baseline", default=None, help="the configuration everything is compared with, by its "
                        "label or config_key (default: the best on --metric)")
    parser.add_argument("--test", default="t", choices=("t", "wilcoxon", "bootstrap"))
    parser.add_argument("--mode", default=None, choices=("max", "min"), help="whether higher or lower is better "
                        "(default: the study's objective direction for --metric, else max)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level; intervals are 1 - alpha "
                        "(default 0.05)")
    parser.add_argument("--format", default="md", choices=("md", "json"))
    parser.set_defaults(run=run)


def run(args) -> int:
    from vlpet.analysis import compare, load_results, read_objectives
    from vlpet.analysis.results import TEST_PREFIX, reported_column

    frame = load_results(*args.study_dirs)
    args.metric = args.metric or reported_column(frame, "metric")
    mode = args.mode or read_objectives(args.study_dirs[0]).get(args.metric.removeprefix(TEST_PREFIX), "max")
    result = compare(frame, args.metric, baseline=args.baseline, test=args.test, alpha=args.alpha, mode=mode)
    if args.format == "json":
        print(result.to_json(orient="records", indent=1))
        return 0
    print(f"{TEST_NAMES[args.test]} of {args.metric} ({mode} is better) over shared seeds; diff = a − b with its "
          f"{1 - args.alpha:.0%} interval; p_holm: Holm over the {len(result)} rows.\n")
    print(markdown(result) if len(result) else "only one configuration has finished: nothing to compare")
    return 0


def markdown(result) -> str:
    """The comparison as a markdown table, numbers to four significant digits, missing values as –."""
    from vlpet.analysis.tables import md_text

    def cell(value) -> str:
        if isinstance(value, float):
            return "–" if value != value else f"{value:.4g}"
        return md_text(str(value))

    lines = ["| " + " | ".join(result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in result.itertuples(index=False)]
    return "\n".join(lines)
