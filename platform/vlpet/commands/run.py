"""`vlpet run STUDY.yaml`: run a study on an embedded local Ray (default) or a running cluster (--address)."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

from vlpet.errors import ConfigError
from vlpet.locations import check_output_location
from vlpet.study.spec import check_local_data, load_study

HELP = "run a study: Ray Tune + Optuna over the study's search space, trials trained by the study's workers"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help=HELP,
        description=HELP + ". With no --address a local Ray starts in this process (dashboard on 127.0.0.1). "
        "Results, checkpoints, the Optuna study and the report go to the study's storage directory. It prints at "
        "the start the study directory, the report page (written at once and rewritten as trials end; it "
        "reloads itself while the study runs), the Ray dashboard URL and the optuna-dashboard command; then a "
        "line for each trial that ends (id, configuration, seed, metric, step, wall time) and a summary "
        "(done/running/stopped/failed, best seed-mean, elapsed and estimated time left) as trials end and at "
        "most every 30 s; last, the study's summary and the final report's files.")
    parser.add_argument("study", help="study YAML file (see search_spaces/)")
    parser.add_argument("--smoke", action="store_true", help="run the study's smoke variant (two tiny trials)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (e.g. auto, or HOST:6379); default: start an embedded local Ray")
    parser.add_argument("--storage", default=None, help="override the study's storage directory or URI")
    parser.add_argument("--storage-shared", action="store_true",
                        help="the storage path is one directory shared by every node of the cluster (as the study "
                        "key storage_shared: true); without it a node-local path on a cluster of several nodes is "
                        "refused")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded local Ray (default: all)")
    add_output_options(parser)
    parser.add_argument("--study-from-env", default=None, metavar="VAR",
                        help="read the study's YAML text from environment variable VAR (used by vlpet submit)")
    parser.set_defaults(run=run)


def add_output_options(parser) -> None:
    """--quiet and --verbose (vlpet run, vlpet resume)."""
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines: only the start lines and the study's summary")
    parser.add_argument("--verbose", action="store_true",
                        help="also Tune's own output (its configuration boxes and status tables), Ray's log lines and "
                        "the trial processes' output, as Ray prints them")


def output_options(args) -> dict:
    """The runner's ``verbose``, ``progress`` and ``live_report`` for --quiet / --verbose; call before Ray is
    imported."""
    if args.quiet and args.verbose:
        raise ConfigError("--quiet and --verbose exclude each other: choose one")
    from vlpet.study.terminal import prepare_output

    prepare_output(args.verbose)
    return {"verbose": int(args.verbose), "progress": None if args.quiet else print_line, "live_report": write_live_report}


def run(args) -> int:
    spec = checked_study(args)
    shown = output_options(args)
    from vlpet.study.connection import prepare_auth

    prepare_auth(args.address)                  # before Ray is imported
    from vlpet.study import runner              # imports Ray: only once the study is known to be valid
    from vlpet.study.terminal import quiet_study

    def start(on_connected):
        if args.address:
            with quiet_study(shown["verbose"]):            # joining the cluster logs at INFO
                check_cluster_storage(spec, runner.study_dir_of(spec), args.address, args.storage_shared)
        return runner.run_study(spec, address=args.address, num_cpus=args.num_cpus, on_connected=on_connected,
                                **shown)

    return conclude(start, lambda: runner.study_dir_of(spec))


def check_cluster_storage(spec, study_dir: str, address: str, shared: bool) -> None:
    """Join the cluster and, before anything is written or any trial starts, refuse a node-local storage path
    that the study's trials on other nodes would not reach (vlpet.study.nodes). The runner keeps this
    connection."""
    from vlpet.study.connection import connect_ray
    from vlpet.study.nodes import alive_nodes, check_storage_reaches_trials

    connect_ray(address)
    check_storage_reaches_trials(spec, study_dir, alive_nodes(), address, shared=shared)


def conclude(start: Callable[[Callable], Any], study_dir: Callable[[], str]) -> int:
    """Run a study (``start(on_connected)`` returns its StudyOutcome) and end the command honestly: the report
    and exit status 0, or 1 with a summary of the failed trials; after Ctrl-C or SIGTERM the study is stopped
    as Tune stops it, Ray is shut down, no final report is written (the live one stays as it was), the resume
    hint names ``study_dir()``, and the status is 130 or 143.

    The summary is the last thing printed: a Ray this command connected to is disconnected first (Ray prints
    the trial processes' deferred, deduplicated lines when its driver disconnects)."""
    from vlpet.study.interrupt import Interrupted, Interruption, ray_connected

    joined = ray_connected()                    # a Ray this process already uses (a notebook's, a test's) stays
    with Interruption() as interruption:
        try:
            outcome = start(interruption.armed(print_start))
            outputs = None if interruption.signal else write_report(outcome.study_dir)
            if not joined and not interruption.signal:
                interruption.disconnect()
        except Interrupted:
            pass
        if interruption.signal:
            status = interruption.finish()
            print(f"interrupted: continue with `vlpet resume {study_dir()}`", file=sys.stderr, flush=True)
            return status
    print_outcome(outcome, outputs)
    return report_failures(outcome.trials)


def checked_study(args):
    """The study to run, validated with its storage override and (for an embedded Ray, whose trials train
    here) its data directories, all before Ray is imported or started."""
    text = None
    if args.study_from_env:
        if args.study_from_env not in os.environ:
            raise ConfigError(f"--study-from-env: environment variable {args.study_from_env} is not set")
        text = os.environ[args.study_from_env]
    spec = load_study(args.study, smoke=args.smoke, text=text)
    if args.storage:
        spec = dataclasses.replace(spec, storage=check_output_location(args.storage, "--storage"))
    if args.address is None:
        check_local_data(spec, args.num_cpus)
    return spec


def print_line(line: str) -> None:
    print(line, flush=True)


def print_start(dashboard_url: str | None, spec) -> None:
    """Where to watch the study: its directory, its report page, the Ray dashboard, optuna-dashboard."""
    from vlpet.analysis.report import REPORT_DIR
    from vlpet.study.runner import study_dir_of

    study_dir = study_dir_of(spec)
    print(f"study directory: {study_dir}", flush=True)
    print(f"report: {study_dir.rstrip('/')}/{REPORT_DIR}/report.html (rewritten as trials end)", flush=True)
    if dashboard_url:
        print(f"Ray dashboard: {dashboard_url}", flush=True)
    if spec.algorithm != "grid":                # a grid study has no Optuna study to show
        print(f"optuna-dashboard: vlpet dashboard {study_dir}", flush=True)


def write_live_report(study_dir: str) -> list[str]:
    """The report of a running study (a page that says so and reloads itself), rewritten as trials end."""
    from vlpet.analysis import write_study_outputs

    return list(write_study_outputs(study_dir, live=True))


def write_report(study_dir: str) -> list[str]:
    """The end-of-study report: results table, Pareto plot, ablation tables and report page in ``report/``."""
    from vlpet.analysis import write_study_outputs

    return list(write_study_outputs(study_dir))


def print_outcome(outcome, outputs: list[str]) -> None:
    from collections import Counter

    counts = Counter(t.get("status") for t in outcome.trials)
    print(f"study finished in {outcome.wall_s:.0f} s: {len(outcome.trials)} trials "
          f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); results in {outcome.study_dir}")
    for path in outputs:
        print(f"  wrote {path}")


def report_failures(trials: list[dict]) -> int:
    """Exit status 1, with a summary on stderr naming each failed trial, its configuration and its first error
    line, when any trial failed (status ERROR); 0 otherwise."""
    failed = [t for t in trials if t.get("status") == "ERROR"]
    if not failed:
        return 0
    configurations = {t.get("config_key") for t in trials}
    broken = {t.get("config_key") for t in failed}
    share = "every trial" if len(failed) == len(trials) else f"{len(failed)} of {len(trials)} trials"
    print(f"study failed: {share} failed, in {len(broken)} of {len(configurations)} configurations:",
          file=sys.stderr)
    for trial in failed:
        sampled = ", ".join(f"{k}={v}" for k, v in sorted((trial.get("sampled") or {}).items()))
        error = (str(trial.get("error") or "").strip().splitlines() or ["(no error recorded)"])[0]
        print(f"  trial {trial.get('trial_id')} (configuration {trial.get('config_key')}: {sampled}; seed "
              f"{trial.get('seed')}): {error[:300]}", file=sys.stderr)
    return 1
