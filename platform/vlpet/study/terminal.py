"""What a study prints on the terminal: vlpet's own progress lines (vlpet.study.progress), not Tune's and Ray's.

How Ray 2.60 decides what reaches the terminal (read in the installed sources):

* Tune's output engine. ``RunConfig(verbose=...)`` picks the level; with ``RAY_AIR_NEW_OUTPUT`` unset or 1 (the
  default) the new engine (``ray/tune/experimental/output.py``) adds a ``TuneTerminalReporter`` callback that
  prints the experiment's configuration table and "View detailed results here" whatever the level, and every
  trial error with its result table even at ``verbose=0``. The legacy engine (``RAY_AIR_NEW_OUTPUT=0``,
  ``ray/tune/progress_reporter.py``) at ``verbose=0`` prints nothing: its CLIReporter runs only from
  ``Verbosity.V1_EXPERIMENT`` and its TrialProgressCallback prints only from ``V2_TRIAL_NORM``. So a quiet study
  runs Tune's legacy engine at level 0; ``--verbose`` runs the default engine at level 1 (Tune's own tables).
* The driver's Ray and Tune log lines ("Started a local Ray instance", "Wrote the latest version of all result
  files ...") are INFO records of the ``ray`` logger's children, printed by the handler Ray gives the ``ray``
  logger; ``ray.init`` sets that logger's level again (to ``RAY_LOGGER_LEVEL``, INFO), so a quiet study raises
  the level of Ray's handlers to WARNING instead. Optuna's ("A new study created in RDB") are INFO records of
  its own logger, raised to WARNING too, and the ExperimentalWarning of the sampler options vlpet chooses
  (TPE's ``multivariate``, ``group``) is not shown. Ray's warning that token authentication is on by default
  (``ray._private.authentication``) is dropped too: vlpet relies on it, with a private token it wrote itself
  (vlpet.study.connection). So is Tune's "Remote file not found: .../result.json" (``ray.tune.logger.logger``):
  a trial that seed-grouped ASHA paused before its first result file was synced restarts without one to restore,
  which costs nothing (vlpet's own store holds every evaluation).
* The trial processes' output (e.g. Ray Train's "Checkpoint successfully created at: ..." for every checkpoint)
  reaches the driver's terminal when ``ray.init(log_to_driver=True)``, the default taken from
  ``RAY_LOG_TO_DRIVER`` when Ray is imported. An embedded Ray of a quiet study keeps it in Ray's session logs
  (and the dashboard's per-actor logs) instead. The forwarded lines are deduplicated and the repeats are
  flushed when the driver disconnects, which is what printed a stray Ray line after the study's summary: the
  command disconnects before it prints the summary (vlpet.commands.run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Iterator

TUNE_NEW_OUTPUT = "RAY_AIR_NEW_OUTPUT"
LOG_TO_DRIVER = "RAY_LOG_TO_DRIVER"
NOTICES = ("ray._private.authentication.authentication_token_setup", "ray.tune.logger.logger")


def prepare_output(verbose: bool) -> None:
    """Before Ray is imported: a quiet study's embedded Ray keeps the trial processes' output in its logs. A
    value the user set stays."""
    if not verbose:
        os.environ.setdefault(LOG_TO_DRIVER, "0")


@contextlib.contextmanager
def quiet_study(verbose: int) -> Iterator[None]:
    """Within the block, unless ``verbose``: Tune prints nothing of its own (legacy engine at level 0); the
    driver's Ray and Optuna INFO lines, Optuna's ExperimentalWarning and the two Ray ``NOTICES`` are dropped.
    Everything is restored on exit."""
    if verbose:
        yield
        return
    import optuna

    saved_engine = os.environ.get(TUNE_NEW_OUTPUT)
    handlers, notices = list(logging.getLogger("ray").handlers), [logging.getLogger(name) for name in NOTICES]
    saved_levels, saved_optuna = [h.level for h in handlers + notices], optuna.logging.get_verbosity()
    os.environ[TUNE_NEW_OUTPUT] = "0"
    for handler in handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    for notice in notices:
        notice.setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(saved_optuna)
        for handler_or_logger, level in zip(handlers + notices, saved_levels):
            handler_or_logger.setLevel(level)
        if saved_engine is None:
            os.environ.pop(TUNE_NEW_OUTPUT, None)
        else:
            os.environ[TUNE_NEW_OUTPUT] = saved_engine
