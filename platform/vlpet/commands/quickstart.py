"""`vlpet quickstart`: the main job on this machine, runnable with no cluster and no model hub."""

from __future__ import annotations

import glob
import json
import os

from vlpet.commands.params import format_budget
from vlpet.trial_config import TrialConfig

HELP = "run the quickstart trial (VL-PET-large on the offline easy-vqa task) and print the parameter budgets"
QUICKSTART_TRIAL = os.path.join("search_spaces", "trials", "quickstart.yaml")


def register(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help=HELP, description=HELP)
    parser.add_argument("--trials", default=os.path.join("search_spaces", "trials"),
                        help="folder of trial YAML files whose budgets are printed (default: search_spaces/trials)")
    parser.add_argument("--trial", default=QUICKSTART_TRIAL, help=f"the trial to train (default: {QUICKSTART_TRIAL})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a trial key")
    parser.add_argument("--out", default=os.path.join("runs", "quickstart"), help="output directory")
    parser.set_defaults(run=run)


def run(args) -> int:
    from vlpet.build import trial_budget       # torch and transformers: only once a command runs
    from vlpet.train.loop import run_trial

    for path in sorted(glob.glob(os.path.join(args.trials, "*.yaml"))):
        config = TrialConfig.from_file(path)
        print(f"== parameter budget of {path}\n{format_budget(config, trial_budget(config))}\n", flush=True)
    config = TrialConfig.from_file(args.trial, args.set)
    print(f"== training {args.trial} (first run: prepares the data and pretrains the tiny backbone)", flush=True)
    final = run_trial(config, args.out, resume=False, progress_bar=True)
    print(json.dumps(final, indent=1))
    print(f"\n{final['metric_name']} {final['metric']:.2f} vs majority-answer baseline "
          f"{final['majority_baseline']:.2f} with {final['trainable_pct']:.2f}% of the parameters trained; "
          f"checkpoints in {args.out}/checkpoints")
    return 0
