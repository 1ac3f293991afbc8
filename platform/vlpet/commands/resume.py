"""`vlpet resume STUDY_DIR`: continue a study whose driver died."""

from __future__ import annotations

HELP = "continue a study whose driver died: finished trials are kept, unfinished ones resume from checkpoints"


def register(subparsers) -> None:
    parser = subparsers.add_parser("resume", help=HELP, description=HELP)
    parser.add_argument("study_dir", help="the study's storage directory (holds study.json)")
    parser.add_argument("--address", default=None, help="Ray cluster to join; default: an embedded local Ray")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded local Ray (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no Tune progress tables")
    parser.set_defaults(run=run)


def run(args) -> int:
    from vlpet.study.connection import prepare_auth

    prepare_auth(args.address)                  # before Ray is imported
    from vlpet.commands.run import print_dashboard, print_outcome, write_report
    from vlpet.study.runner import resume_study

    outcome = resume_study(args.study_dir, address=args.address, verbose=0 if args.quiet else 1,
                           num_cpus=args.num_cpus, on_connected=print_dashboard)
    print_outcome(outcome, write_report(outcome.study_dir))
    return 0
