"""The `vlpet` command line. Sub-commands live in ``vlpet.commands``, one module each."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vlpet import __version__
from vlpet.errors import ConfigError, DataError, TrainingDiverged

COMMANDS = ("params", "train", "validate", "run", "resume", "submit", "status", "logs", "export", "pareto", "compare",
            "report", "dashboard", "quickstart", "adapter", "predict")


EXIT_STATUSES = ("exit status: 0 done; 1 a study ran but trials failed (run, resume); 2 bad input (one line on "
                 "stderr); 130 or 143 interrupted by Ctrl-C (SIGINT) or SIGTERM")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlpet",
        description="Distributed hyperparameter and ablation studies for vision-and-language PET (VL-PET).",
        epilog=EXIT_STATUSES,
    )
    parser.add_argument("--version", action="version", version=f"vlpet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"vlpet.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (ConfigError, DataError, TrainingDiverged) as error:
        print(f"vlpet {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vlpet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`vlpet params ... | head`): nothing left to say, and nobody to say it to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def one_line(message: str, limit: int = 2000) -> str:
    """An error message as one line of at most ``limit`` characters (messages may quote multi-line input)."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
