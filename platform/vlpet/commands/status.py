"""`vlpet status [JOB]`: the studies submitted to a cluster, or one job's state."""

from __future__ import annotations

HELP = ("list the studies submitted to a Ray cluster (job, status, run or resume, study, storage), or show one "
        "job's status")


def register(subparsers) -> None:
    parser = subparsers.add_parser("status", help=HELP, description=HELP)
    parser.add_argument("job", nargs="?", help="job id (default: every vlpet job on the cluster)")
    parser.add_argument("--address", default=None, help="Ray dashboard address (as for vlpet submit)")
    parser.add_argument("--insecure", action="store_true", help="allow a plain-HTTP address that is not this machine")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    import json

    from vlpet.study.jobs import METADATA_KEY, client

    jobs = client(args.address, args.insecure)
    if args.job:
        info = [jobs.get_job_info(args.job)]
    else:
        info = [j for j in jobs.list_jobs() if (j.metadata or {}).get(METADATA_KEY)]
    rows = [{"job": j.submission_id, "study": (j.metadata or {}).get(METADATA_KEY), "status": str(j.status.value),
             "storage": (j.metadata or {}).get("storage"), "action": (j.metadata or {}).get("action", "run"),
             "message": j.message, "start_time": j.start_time,
             "end_time": j.end_time} for j in info]
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print("no vlpet jobs on this cluster")
    for row in rows if not args.json else []:
        print(f"{row['job']}  {row['status']:<10} {row['action']:<6} study {row['study']}  storage {row['storage']}  "
              f"{row['message'] or ''}")
    return 0
