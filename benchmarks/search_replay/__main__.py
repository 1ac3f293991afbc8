"""The search-replay report: JSON figures with targets marked, and the hypervolume-vs-compute plot.

    python -m benchmarks.search_replay [--quick] [--out benchmarks/search_replay/results] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.search_replay.replay import HERE, benchmark, targets
from benchmarks.search_replay.strategies import STRATEGIES
from vlpet.study.store import json_safe

LABELS = {"grid": "grid (every configuration, in order)", "random": "random search",
          "anchor": "anchor: NSGA-II + plain ASHA, seed sampled",
          "anchor_seeds_looped": "NSGA-II + plain ASHA, seeds looped",
          "vlpet_nsga2_accuracy_only": "vlpet: NSGA-II + seed-grouped ASHA, accuracy only",
          "vlpet_nsga2": "vlpet: NSGA-II + seed-grouped budget-aware ASHA",
          "vlpet_tpe": "vlpet: TPE + seed-grouped budget-aware ASHA",
          "vlpet_per_arm": "vlpet: NSGA-II, per_arm 1 (the most this space allows)"}


def plot(figures: dict, path: str) -> str:
    """Median hypervolume fraction (quartile band) against compute, one line per strategy; written whole."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = figures["compute_axis_s"]
    total = figures["table"]["grid_compute_s"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, result in figures["strategies"].items():
        curve = result["curve"]
        line, = ax.plot(xs, curve["median"], label=LABELS.get(name, name), drawstyle="steps-post")
        ax.fill_between(xs, curve["q25"], curve["q75"], step="post", alpha=0.15, color=line.get_color())
    ax.axhline(figures["fraction"], color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(total / 3, color="grey", linestyle=":", linewidth=0.8)
    ax.text(total / 3, 0.02, " 1/3 of the grid's compute", color="grey", fontsize=8)
    ax.set_xlabel("compute spent (simulated seconds)")
    ax.set_ylabel("hypervolume of finished seed-mean frontier / grid's")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Search efficiency on the quickstart grid ({figures['table']['configurations']} configurations x "
                 f"{len(figures['table']['seeds'])} seeds; median, quartiles over {figures['repetitions']} runs)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    temporary = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(temporary, dpi=120)
    plt.close(fig)
    os.replace(temporary, path)
    return path


def _merged(figures: dict, path: str) -> tuple[dict, dict]:
    """The stored figures with ``figures``' strategies replaced or added (refused unless the table and scale
    match), and the stored report (its ``wall_s`` is the whole run's; ``merged`` times each strategy added)."""
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    stored = report["figures"]
    if stored["table"] != json.loads(json.dumps(json_safe(figures["table"]))) or \
            stored["repetitions"] != figures["repetitions"]:
        sys.exit(f"{path} holds another table or number of repetitions: run every strategy instead of --only")
    return {**stored, "strategies": {**stored["strategies"], **figures["strategies"]}}, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 repetitions instead of 20")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="folder for the JSON and the PNG")
    parser.add_argument("--only", nargs="+", choices=STRATEGIES, metavar="NAME",
                        help="replay only these strategies and merge them into the JSON already in --out (same "
                        "scale); one of: " + ", ".join(STRATEGIES))
    args = parser.parse_args(argv)
    started = time.time()
    figures = benchmark("quick" if args.quick else "full", tuple(args.only) if args.only else STRATEGIES)
    extra = {}
    if args.only:
        figures, stored = _merged(figures, os.path.join(args.out, "search_replay.json"))
        extra = {"wall_s": stored["wall_s"], "merged": {**stored.get("merged", {}), **{
            name: {"wall_s": time.time() - started, "on": time.strftime("%Y-%m-%d")} for name in args.only}}}
    table = figures["table"]
    where = f"{table['configurations']} configurations x {len(table['seeds'])} seeds, {figures['repetitions']} repetitions"
    report = json_safe({"figures": figures, "targets": targets(figures, where), "wall_s": time.time() - started,
                        **extra})
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "search_replay.json")
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(report, indent=1, allow_nan=False) + "\n")
    os.replace(temporary, path)
    plot(figures, os.path.join(args.out, "search_replay.png"))
    summary = {name: {k: r[k] for k in ("median_s", "median_fraction_of_grid", "reached", "repetitions")}
               for name, r in report["figures"]["strategies"].items()}
    print(json.dumps({"grid_compute_s": table["grid_compute_s"], "strategies": summary,
                      "targets": report["targets"], "wall_s": report["wall_s"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
