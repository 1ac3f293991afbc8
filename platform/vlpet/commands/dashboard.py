"""`vlpet dashboard STUDY_DIR [--port P] [--host H] [--ray-address URL]`: optuna-dashboard on the study's Optuna
storage, served until Ctrl-C, with the Ray dashboard's URL when a Ray cluster answers (see docs/dashboards.md).

The server is optuna-dashboard's own WSGI app (``optuna_dashboard.wsgi``) in a threaded ``wsgiref`` server this
command controls (the same server ``optuna-dashboard`` runs when gunicorn is absent). No Ray is started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socketserver
import tempfile
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from vlpet.errors import ConfigError

HELP = "serve optuna-dashboard on a study's Optuna storage (tpe and nsga2 studies), and show the Ray dashboard's URL"
DEFAULT_PORT = 8080
SQLITE_HEADER = b"SQLite format 3\x00"
LOOPBACK = ("127.0.0.1", "localhost")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dashboard", help=HELP,
        description=HELP + ". Serves until Ctrl-C; works while the study runs (the page follows the study). For a "
        "study on cloud storage it serves a copy of STUDY_DIR/optuna.db downloaded at start (its driver uploads it "
        "as trials end). A grid study has no Optuna storage: use vlpet report. See docs/dashboards.md.")
    parser.add_argument("study_dir", metavar="STUDY_DIR")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; optuna-dashboard has no "
                        "authentication and can change the study)")
    parser.add_argument("--ray-address", default=None, metavar="URL",
                        help="the Ray dashboard to look for (default: RAY_DASHBOARD_ADDRESS, else "
                        "http://127.0.0.1:8265, where a study's embedded Ray or a local `ray start` listens)")
    parser.set_defaults(run=run)


def run(args) -> int:
    import sys

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0 to 65535")
    with contextlib.ExitStack() as stack:
        database, study_name = optuna_database(args.study_dir, stack)
        server = serve(database, args.host, args.port)
        stack.callback(server.server_close)
        url = f"http://{args.host}:{server.server_port}"
        print(f"optuna-dashboard: {url}{_study_path(database, study_name)}  (study {study_name}, {database})")
        print(ray_dashboard_line(args.ray_address))
        if args.host not in LOOPBACK:
            print(f"warning: listening on {args.host}: anyone who reaches it can read and change the study",
                  file=sys.stderr)
        print("serving until Ctrl-C", flush=True)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0


def optuna_database(study_dir: str, stack: contextlib.ExitStack) -> tuple[str, str]:
    """The local sqlite file of the study's Optuna storage and the Optuna study's name; ConfigError (one line) for
    a missing, damaged or grid study. A cloud study's ``optuna.db`` is downloaded into a temporary directory that
    ``stack`` removes."""
    from vlpet.study.cloud import OPTUNA_FILE, download_optuna
    from vlpet.study.store import SPEC_FILE, StudyStore, is_uri

    if not is_uri(study_dir) and not os.path.isdir(study_dir):
        raise ConfigError(f"{study_dir}: no such study directory")
    store = StudyStore(study_dir)
    record = store.read_study()
    if record is None:
        why = store.skipped().get(SPEC_FILE)
        raise ConfigError(f"{study_dir}/{SPEC_FILE} is damaged ({why})" if why else
                          f"{study_dir} is not a study directory: it has no {SPEC_FILE}")
    algorithm = ((record.source or {}).get("search") or {}).get("algorithm", "tpe")
    if algorithm == "grid" or not record.optuna_study_name:
        raise ConfigError(f"{study_dir} is a grid study: it has no Optuna storage for optuna-dashboard to show "
                          f"(tpe and nsga2 studies have one); its results are in `vlpet report {study_dir}`")
    if is_uri(study_dir):
        database = os.path.join(stack.enter_context(tempfile.TemporaryDirectory(prefix="vlpet-dashboard-")),
                                OPTUNA_FILE)
        if not download_optuna(study_dir, database):
            raise ConfigError(f"{study_dir} has no {OPTUNA_FILE} yet (its driver uploads it when a trial ends)")
    else:
        database = os.path.join(os.path.abspath(study_dir), OPTUNA_FILE)
    _check_sqlite(database, study_dir, record.optuna_study_name)
    return database, record.optuna_study_name


def _check_sqlite(database: str, study_dir: str, study_name: str) -> None:
    """The file is an SQLite database holding the study (optuna would create an empty one where there is none)."""
    import sqlite3

    try:
        with open(database, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError:
        raise ConfigError(f"{study_dir} has no optuna.db (was the study started with vlpet run?)") from None
    if header != SQLITE_HEADER:
        raise ConfigError(f"{database} is damaged: not an SQLite database")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            found = connection.execute("SELECT 1 FROM studies WHERE study_name = ?", (study_name,)).fetchone()
    except sqlite3.Error as error:
        raise ConfigError(f"{database} is damaged: {error}") from None
    if found is None:
        raise ConfigError(f"{database} does not hold the study's Optuna study {study_name!r}")


def _study_path(database: str, study_name: str) -> str:
    """The dashboard page of the study: /dashboard/studies/<Optuna's study id>."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        (study_id,) = connection.execute("SELECT study_id FROM studies WHERE study_name = ?", (study_name,)).fetchone()
    return f"/dashboard/studies/{study_id}"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:        # noqa: A002 - the base class's signature
        """One line per request would bury the URLs; errors still reach the page."""


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(database: str, host: str, port: int) -> WSGIServer:
    """optuna-dashboard's WSGI app on ``sqlite:///database``, bound to ``host:port`` (not yet serving)."""
    import optuna
    import optuna_dashboard

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    app = optuna_dashboard.wsgi(optuna.storages.RDBStorage(f"sqlite:///{database}"))
    try:
        return make_server(host, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error} (choose another with --port, "
                          "or --port 0 for any free one)") from None


def ray_dashboard_line(address: str | None) -> str:
    """The Ray dashboard's URL when it answers (its ``/api/version``, with the cluster token when there is one),
    else why not. Asks over HTTP only: no Ray is started or joined."""
    from vlpet.study.connection import auth_token
    from vlpet.study.jobs import dashboard_address

    url = dashboard_address(address).rstrip("/")
    request = urllib.request.Request(f"{url}/api/version")
    token = auth_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            response.read(1024)
        return f"Ray dashboard: {url}"
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return f"Ray dashboard: {url} (token authentication: paste the cluster token, ~/.ray/auth_token)"
        return f"Ray dashboard: {url} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError):
        return (f"Ray dashboard: none answers at {url} (no Ray cluster running there; a study's embedded Ray "
                "listens there while it runs; --ray-address URL for a cluster)")


def _interrupt(signum, frame) -> None:
    """SIGTERM stops the server as Ctrl-C does (the temporary copy of a cloud study's database is removed)."""
    raise KeyboardInterrupt
