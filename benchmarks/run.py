"""Run the benchmarks and print one JSON report: every figure (medians of repeats, warm-ups excluded), every
target of issue 7 marked met or missed with its figure, and the machine it ran on.

    python -m benchmarks.run [--quick] [--device cpu|cuda] [--only NAMES] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from benchmarks import module_overhead, orchestration, pet_vs_full, scaling, search_replay, seed_groups
from benchmarks.common import Settings, machine_info
from vlpet.study.store import json_safe

BENCHMARKS = {"pet_vs_full": pet_vs_full, "module_overhead": module_overhead, "orchestration": orchestration,
              "scaling": scaling, "seed_groups": seed_groups, "search_replay": search_replay}


def run_benchmarks(names: list[str], settings: Settings, log=None, save=None) -> dict[str, Any]:
    """Run ``names`` in order; returns the report (machine, settings, per-benchmark results, all targets).
    ``save(report)`` is called after each benchmark, so a later failure keeps the figures already taken; a
    benchmark that fails is recorded with its error and the others still run."""
    report: dict[str, Any] = {"machine": machine_info(settings), "settings": settings.as_dict(),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "benchmarks": {}, "targets": []}
    started = time.time()
    for name in names:
        begun = time.time()
        try:
            result = BENCHMARKS[name].run(settings)
        except Exception as error:  # noqa: BLE001 - recorded in the report; the other benchmarks still run
            result = {"error": f"{type(error).__name__}: {error}", "targets": []}
        result["wall_s"] = time.time() - begun
        report["benchmarks"][name] = result
        report["targets"] += [{"benchmark": name, **entry} for entry in result["targets"]]
        report["wall_s"] = time.time() - started
        marks = [entry["met"] for entry in report["targets"]]
        report["summary"] = {"targets_met": marks.count(True), "targets_missed": marks.count(False)}
        if log:
            log(f"[benchmarks] {name}: {result['wall_s']:.0f} s" + (" (failed)" if "error" in result else ""))
        if save:
            save(report)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small backbones, fewer repeats: a smoke check in minutes")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--only", metavar="NAMES", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", metavar="OUT", help="also write the report to this file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: one per usable core)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("--device cuda: no CUDA device is available here", file=sys.stderr)
            return 2
    settings = Settings("quick" if args.quick else "full", args.device, args.threads)

    def save(report: dict[str, Any]) -> None:
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")

    report = run_benchmarks(args.names, settings, log=lambda line: print(line, file=sys.stderr, flush=True),
                            save=save)
    print(json.dumps(json_safe(report), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
