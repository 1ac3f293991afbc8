"""`vlpet params`: the parameter budget of a trial config, built on the meta device (no weights, no download);
with ``--target-pct``/``--target-params``/``--target-bytes``, the method's size knob solved for a budget target."""

from __future__ import annotations

import argparse
import json

from vlpet.budget_target import BudgetSolution, make_target, solve_budget
from vlpet.errors import ConfigError
from vlpet.safe_yaml import parse_overrides, read_yaml_file
from vlpet.trial_config import TrialConfig, field_help

HELP = "print trainable / total parameters and the per-component breakdown of a trial config"


def register(subparsers) -> None:
    parser = subparsers.add_parser("params", help=HELP, description=HELP + ".\n\nKeys:\n" + _keys_help(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trial", nargs="?", help="trial config YAML/JSON (default: all defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list-methods", action="store_true", help="list the PET methods and the keys each one reads")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target-pct", type=float, metavar="P",
                        help="solve the method's size knob (bottleneck, lora_rank, prompt_length, ...) so that the "
                             "trial trains as close to P%% of the parameters as the knob allows; keys left unset "
                             "that follow it (gate_bottleneck) follow; exit 2 with the reachable range when P cannot "
                             "be reached")
    target.add_argument("--target-params", type=int, metavar="N", help="as --target-pct, for N trainable parameters")
    target.add_argument("--target-bytes", type=int, metavar="B",
                        help="as --target-pct, for B bytes of trained weights as stored (adapter_bytes: counts "
                             "adapter_bits, scales included; e.g. --set adapter_bits=1 --target-bytes 250000)")
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
    if "adapter_bytes" in budget:  # storage of what the trial trains, at its stored precision
        rows.append(f"{'adapter bytes':<22}{budget['adapter_bytes']:>14,}")
    return "\n".join(rows)


def list_methods() -> str:
    """One line per registered method: name, summary, the trial keys it reads."""
    from vlpet.pet.registry import registered_methods

    lines = []
    for name, method in registered_methods().items():
        lines.append(f"{name:<10} {method.summary}")
        lines.append(f"{'':<10} keys: {', '.join(method.keys) or '(none beyond lr)'}; "
                     f"size knob: {method.size_knob or '(none: one size)'}")
        lines += [f"{'':<12}{key}: {text}" for key, text in method.options.help().items()]
    return "\n".join(lines)


def given_keys(path: str | None, overrides: list[str]) -> dict:
    """The trial's keys as written (the file, then ``--set``), before defaults fill the rest: what the solver
    keeps, while keys left out keep following their defaults."""
    data = read_yaml_file(path, "trial config file") if path is not None else {}
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"trial config file {path} must hold a mapping of keys to values, got {type(data).__name__}")
    return {**data, **parse_overrides(overrides)}


def solved_keys(solution: BudgetSolution) -> dict:
    """The knob and the followers that matter for this trial (a gate bottleneck only with the large gate)."""
    shown = method_keys(solution.config)
    return {key: value for key, value in solution.keys.items() if key == solution.knob or key in shown}


def format_solution(solution: BudgetSolution) -> str:
    """The solved keys, the achieved budget and its error, the other side of the target, then the budget table."""
    target, config = solution.target, solution.config
    solved = ", ".join(f"{key} {value}" for key, value in solved_keys(solution).items())
    unit = {"pct": "percentage points", "params": "params", "bytes": "bytes"}[target.unit]
    error = f"{round(solution.error, 3) + 0.0:+.3f}" if target.unit == "pct" else f"{int(solution.error):+,}"
    rows = [f"target   {target.show(target.value)}: {config.method} on {config.backbone}",
            f"solved   {solved or f'nothing: {config.method} has no size knob, one size'}",
            f"achieved {target.show(solution.achieved)} (error {error} {unit})"]
    rows += [f"nearest  {solution.knob} {value} gives {target.show(measure)}"
             for value, measure in dict(solution.bracket).items() if value != solution.keys.get(solution.knob)]
    sizes = f"{solution.counts} size" + ("s" if solution.counts != 1 else "")
    rows.append(f"counted  {sizes} on the meta device in {solution.seconds:.2f} s\n")
    return "\n".join(rows) + format_budget(config, solution.budget)


def solution_json(solution: BudgetSolution) -> dict:
    """The budget's keys (as plain ``--json``), the whole solved trial under ``config``, the target and the error."""
    return {**solution.budget, "config": solution.config.to_dict(), "solved": solved_keys(solution),
            "knob": solution.knob, "target": {solution.target.unit: solution.target.value},
            "achieved": solution.achieved, "error": solution.error, "bracket": [list(b) for b in solution.bracket],
            "counts": solution.counts, "seconds": round(solution.seconds, 3)}


def run_target(args) -> int:
    target = make_target(args.target_pct, args.target_params, args.target_bytes)
    solution = solve_budget(given_keys(args.trial, args.set), target)
    print(json.dumps(solution_json(solution)) if args.json else format_solution(solution))
    return 0


def run(args) -> int:
    if args.list_methods:
        print(list_methods())
        return 0
    if args.target_pct is not None or args.target_params is not None or args.target_bytes is not None:
        return run_target(args)
    config = TrialConfig.from_file(args.trial, args.set)
    from vlpet.build import trial_budget       # torch and transformers: only when counting

    budget = trial_budget(config)
    print(json.dumps(budget) if args.json else format_budget(config, budget))
    return 0
