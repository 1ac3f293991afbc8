"""`vlpet params`: the parameter budget of a trial config, built on the meta device (no weights, no download)."""

from __future__ import annotations

import argparse
import json

from vlpet.build import trial_budget
from vlpet.trial_config import TrialConfig, field_help

HELP = "print trainable / total parameters and the per-component breakdown of a trial config"


def register(subparsers) -> None:
    parser = subparsers.add_parser("params", help=HELP, description=HELP + ".\n\nKeys:\n" + _keys_help(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trial", nargs="?", help="trial config YAML/JSON (default: all defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list-methods", action="store_true", help="list the PET methods and the keys each one reads")
    parser.set_defaults(run=run)


def _keys_help() -> str:
    return "\n".join(f"  {key:<20} {text}" for key, text in field_help().items())


def method_keys(config: TrialConfig) -> dict:
    """The resolved values of the keys ``config.method`` reads (``vlpet params --list-methods``)."""
    from vlpet.pet.registry import method_record

    keys = method_record(config.method).keys
    if config.granularity is None:  # gate sizes mean nothing without a gate
        keys = tuple(k for k in keys if k not in ("gate_bottleneck", "gate_scale"))
    elif config.granularity != "large":
        keys = tuple(k for k in keys if k != "gate_bottleneck")
    resolved = config.to_dict()
    values = {key: resolved[key] for key in keys}
    if "placement" in values:
        values["placement"] = ",".join(values["placement"])
    return values


def format_budget(config: TrialConfig, budget: dict) -> str:
    """A small human-readable table."""
    head = " | ".join([f"backbone {config.backbone}", f"method {config.method}",
                       *(f"{key} {value}" for key, value in method_keys(config).items())])
    rows = [head, f"{'component':<22}{'trainable':>14}"]
    rows += [f"{name:<22}{count:>14,}" for name, count in budget["breakdown"].items() if count]
    rows += [f"{'trainable params':<22}{budget['trainable_params']:>14,}",
             f"{'total params':<22}{budget['total_params']:>14,}",
             f"{'trainable %':<22}{budget['trainable_pct']:>14.3f}"]
    return "\n".join(rows)


def list_methods() -> str:
    """One line per registered method: name, summary, the trial keys it reads."""
    from vlpet.pet.registry import registered_methods

    lines = []
    for name, method in registered_methods().items():
        lines.append(f"{name:<10} {method.summary}")
        lines.append(f"{'':<10} keys: {', '.join(method.keys) or '(none beyond lr)'}")
        lines += [f"{'':<12}{key}: {text}" for key, text in method.options.help().items()]
    return "\n".join(lines)


def run(args) -> int:
    if args.list_methods:
        print(list_methods())
        return 0
    config = TrialConfig.from_file(args.trial, args.set)
    budget = trial_budget(config)
    print(json.dumps(budget) if args.json else format_budget(config, budget))
    return 0
