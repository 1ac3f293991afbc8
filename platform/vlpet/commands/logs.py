"""`vlpet logs JOB`: a submitted study's driver output."""

from __future__ import annotations

import time

HELP = "print a submitted study's logs (the vlpet run output on the cluster)"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def register(subparsers) -> None:
    parser = subparsers.add_parser("logs", help=HELP, description=HELP)
    parser.add_argument("job", help="job id printed by vlpet submit")
    parser.add_argument("--address", default=None, help="Ray dashboard address (as for vlpet submit)")
    parser.add_argument("--insecure", action="store_true", help="allow a plain-HTTP address that is not this machine")
    parser.add_argument("--follow", action="store_true", help="wait for the job to end, then print its logs")
    parser.set_defaults(run=run)


def wait_for(jobs, job_id: str, poll_s: float = 2.0) -> str:
    """Block until the job ends; returns its final status."""
    while True:
        status = str(jobs.get_job_status(job_id).value)
        if status in TERMINAL:
            return status
        time.sleep(poll_s)


def run(args) -> int:
    from vlpet.study.jobs import client

    jobs = client(args.address, args.insecure)
    status = wait_for(jobs, args.job) if args.follow else str(jobs.get_job_status(args.job).value)
    print(jobs.get_job_logs(args.job), end="")
    print(f"[job {args.job}: {status}]")
    return 0 if status != "FAILED" else 1
