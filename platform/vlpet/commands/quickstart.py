"""`vlpet quickstart`: the main job on this machine, runnable with no cluster and no model hub."""

from __future__ import annotations

import glob
import os

from vlpet.commands.params import budget_for, format_budget
from vlpet.trial_config import TrialConfig

HELP = "run the quickstart (currently: the parameter budgets of the shipped trial configs)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help=HELP, description=HELP)
    parser.add_argument("--trials", default=os.path.join("search_spaces", "trials"),
                        help="folder of trial YAML files (default: search_spaces/trials)")
    parser.set_defaults(run=run)


def run(args) -> int:
    for path in sorted(glob.glob(os.path.join(args.trials, "*.yaml"))):
        config = TrialConfig.from_file(path)
        print(f"== {path}")
        print(format_budget(config, budget_for(config)))
    return 0
