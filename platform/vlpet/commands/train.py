"""`vlpet train`: run one trial in-process (the same function Ray Train workers run)."""

from __future__ import annotations

import argparse
import json
import os

from vlpet.errors import ConfigError
from vlpet.locations import check_output_location
from vlpet.trial_config import TrialConfig, field_help

CHECKPOINTS, HISTORY, PREDICTIONS = "checkpoints", "metrics.jsonl", "predictions"   # what a run writes in --out

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
    parser.add_argument("--restart", action="store_true",
                        help="delete the checkpoints, metric history and predictions in --out and start over (needed "
                             "when --out holds a run of another configuration, which is otherwise refused)")
    parser.set_defaults(run=run)


def default_out_dir(config: TrialConfig) -> str:
    import hashlib

    return os.path.join("runs", "train", hashlib.sha1(config.to_json().encode()).hexdigest()[:10])


def run(args) -> int:
    from vlpet.train.loop import run_trial

    config = TrialConfig.from_file(args.trial, args.set)
    config.check_local_files()
    out = check_output_location(args.out, "--out") if args.out else default_out_dir(config)
    history = os.path.join(out, HISTORY)
    os.makedirs(out, exist_ok=True)
    if args.restart:
        from vlpet.train.checkpoint import discard_run

        discard_run(out, (CHECKPOINTS, HISTORY, PREDICTIONS))
    elif not args.no_resume:
        check_same_config(out, config)
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


def check_same_config(out: str, config: TrialConfig) -> None:
    """Refuse to resume a checkpoint in ``out`` trained with another configuration: its weights, optimizer and
    metrics belong to that one (another size does not even load). A resume of the same configuration passes."""
    from vlpet.train.checkpoint import CONFIG_FILE, config_changes, latest_checkpoint, saved_config

    found = latest_checkpoint(os.path.join(out, CHECKPOINTS))
    if found is None:
        return
    saved = saved_config(found)
    if saved is None:
        raise ConfigError(f"--out {out}: checkpoint {found} does not say which configuration it was trained with "
                          f"(no readable {CONFIG_FILE}): add --restart to start over, or choose another --out")
    try:
        saved = TrialConfig.from_dict(saved).to_dict()       # keys added since then take their defaults
    except (ValueError, TypeError):
        pass
    changes = config_changes(saved, config.to_dict())
    if changes:
        raise ConfigError(f"--out {out} holds checkpoints of another trial configuration ({'; '.join(changes)}): "
                          f"add --restart to discard them and start over, or choose another --out")


def _summary(metrics: dict) -> str:
    extras = f" (majority baseline {metrics['majority_baseline']:.3f})" if "majority_baseline" in metrics else ""
    return (f"epoch {metrics['epoch']} step {metrics['step']}: {metrics['metric_name']} {metrics['metric']:.4f}"
            f"{extras}, trainable {metrics['trainable_pct']:.2f}%, {metrics['train_step_s']:.3f} s/step")
