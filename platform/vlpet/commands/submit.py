"""`vlpet submit STUDY.yaml --address http://HEAD:8265`: send a study to a Ray cluster (Ray Jobs API)."""

from __future__ import annotations

from vlpet.study.jobs import DEFAULT_ADDRESS

HELP = "submit a study to a running Ray cluster through the Ray Jobs API; prints the job id and dashboard URL"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "submit", help=HELP,
        description=HELP + ". The study is validated here first; the project (platform/vlpet, search_spaces) is "
        "shipped as the job's runtime environment and the job runs `vlpet run STUDY --address auto` on the head. "
        "Each submission gets a study directory of its own (printed; `vlpet status` lists it); --resume DIR "
        "continues a submitted study on the cluster (`vlpet resume DIR`). For cloud storage the AWS_* settings of "
        "this environment go with the job. The cluster token is read from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
        "~/.ray/auth_token.")
    parser.add_argument("study", nargs="?", help="study YAML file inside this project (not with --resume)")
    parser.add_argument("--address", default=None,
                        help=f"Ray dashboard address (default: $RAY_DASHBOARD_ADDRESS or {DEFAULT_ADDRESS}, e.g. "
                        "through `ray dashboard cluster.yaml`)")
    parser.add_argument("--storage", default=None,
                        help="study directory on the cluster: a shared path or cloud URI; one that already holds a "
                        "study is refused (default, new for each submission: STORAGE-YYYYmmdd-HHMMSS for a study "
                        "storage that is absolute or a cloud URI, else ~/vlpet-runs/NAME-YYYYmmdd-HHMMSS on the head)")
    parser.add_argument("--resume", metavar="STORAGE", default=None,
                        help="continue the submitted study stored in STORAGE on the cluster (vlpet resume STORAGE)")
    parser.add_argument("--smoke", action="store_true", help="submit the study's smoke variant")
    parser.add_argument("--insecure", action="store_true", help="allow a plain-HTTP address that is not this machine")
    parser.add_argument("--wait", action="store_true", help="wait for the job to end and print its logs")
    parser.set_defaults(run=run)


def run(args) -> int:
    from vlpet.commands.logs import wait_for
    from vlpet.errors import ConfigError
    from vlpet.locations import check_output_location
    from vlpet.study.jobs import client, submit_resume, submit_study

    if bool(args.resume) == bool(args.study):
        raise ConfigError("vlpet submit: give a study file, or --resume STORAGE of a submitted study (not both)")
    if args.resume:
        if args.storage or args.smoke:
            raise ConfigError("vlpet submit --resume: --storage and --smoke come from the stored study")
        check_output_location(args.resume, "--resume")
        submission = submit_resume(args.resume, args.address, insecure=args.insecure)
    else:
        if args.storage:
            check_output_location(args.storage, "--storage")
        submission = submit_study(args.study, args.address, storage=args.storage, smoke=args.smoke,
                                  insecure=args.insecure)
    print(f"submitted job {submission.job_id}\n  dashboard: {submission.dashboard_url}\n  study directory on the "
          f"cluster: {submission.storage}\n  follow it: vlpet logs {submission.job_id} --follow"
          + (f" --address {args.address}" if args.address else ""), flush=True)
    if args.wait:
        jobs = client(args.address, args.insecure)
        status = wait_for(jobs, submission.job_id)
        print(jobs.get_job_logs(submission.job_id), end="")
        print(f"[job {submission.job_id}: {status}]")
        return 0 if status == "SUCCEEDED" else 1
    return 0
