"""`vlpet train`: run one trial in-process (the same function Ray Train workers run)."""

from __future__ import annotations

import argparse
import json
import os

from vlpet.locations import check_output_location
from vlpet.trial_config import TrialConfig, field_help

HELP = "train and evaluate one trial in this process; prints the final metrics"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nKeys:\n" + "\n".join(f"  {k:<22} {v}" for k, v in field_help().items()))
    parser.add_argument("trial", nargs="?", help="trial config YAML/JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    parser.add_argument("--out", default=None, help="output directory (default: runs/train/<config hash>)")
    parser.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    parser.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in --out")
    parser.set_defaults(run=run)


def default_out_dir(config: TrialConfig) -> str:
    import hashlib

    return os.path.join("runs", "train", hashlib.sha1(config.to_json().encode()).hexdigest()[:10])


def run(args) -> int:
    from vlpet.train.loop import run_trial

    config = TrialConfig.from_file(args.trial, args.set)
    config.check_local_files()
    out = check_output_location(args.out, "--out") if args.out else default_out_dir(config)
    history = os.path.join(out, "metrics.jsonl")
    os.makedirs(out, exist_ok=True)
    if args.no_resume and os.path.exists(history):
        os.remove(history)

    def report(metrics, checkpoint):
        with open(history, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**metrics, "checkpoint": checkpoint}) + "\n")
        if not args.json:
            print(_summary(metrics), flush=True)

    final = run_trial(config, out, report=report, resume=not args.no_resume, progress_bar=not args.json)
    print(json.dumps(final) if args.json else f"final: {_summary(final)}\nresults in {out}")
    return 0


def _summary(metrics: dict) -> str:
    extras = f" (majority baseline {metrics['majority_baseline']:.3f})" if "majority_baseline" in metrics else ""
    return (f"epoch {metrics['epoch']} step {metrics['step']}: {metrics['metric_name']} {metrics['metric']:.4f}"
            f"{extras}, trainable {metrics['trainable_pct']:.2f}%, {metrics['train_step_s']:.3f} s/step")
