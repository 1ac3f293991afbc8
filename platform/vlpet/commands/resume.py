"""`vlpet resume STUDY_DIR`: continue a study whose driver died."""

from __future__ import annotations

import os

from vlpet.commands.run import add_output_options, output_options

HELP = ("continue a study whose driver died or was interrupted: finished trials are kept, unfinished ones resume from "
        "checkpoints")
DESCRIPTION = (HELP + ". It prints what vlpet run prints: where to watch the study (directory, live report page, "
               "Ray dashboard, optuna-dashboard), a line per trial that ends with a running summary, and the study's "
               "summary last.")


def register(subparsers) -> None:
    parser = subparsers.add_parser("resume", help=HELP, description=DESCRIPTION)
    parser.add_argument("study_dir", help="the study's storage directory (holds study.json)")
    parser.add_argument("--address", default=None, help="Ray cluster to join; default: an embedded local Ray")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded local Ray (default: all)")
    add_output_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    shown = output_options(args)
    from vlpet.study.connection import prepare_auth

    prepare_auth(args.address)                  # before Ray is imported
    from vlpet.commands.run import conclude
    from vlpet.study.runner import resume_study
    from vlpet.study.store import is_uri

    study_dir = args.study_dir if is_uri(args.study_dir) else os.path.abspath(args.study_dir)
    return conclude(lambda on_connected: resume_study(study_dir, address=args.address, num_cpus=args.num_cpus,
                                                      on_connected=on_connected, **shown),
                    lambda: study_dir)
