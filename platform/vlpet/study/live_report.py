"""The report of a running study: written when the study starts and again as trials end, by a driver-side Tune
callback calling the writer it is given (the commands give ``vlpet.analysis.write_study_outputs(study_dir,
live=True)``: a page that says the study is running and reloads itself; every file written whole, so a reader
never sees half of one). The writer is passed in because the study layer does not import the analysis above it.

Writing the report (tables, plots) takes seconds, so it happens on a thread of its own while Tune's loop goes on:
an ending asks for a rewrite, and rewrites are at least ``min_interval_s`` apart, so a burst of endings is one
rewrite. A report that cannot be written never stops the study: one warning line (again only if the next
failure differs); nor does a callback call that fails (vlpet.study.watch_guard: one warning, then the live report
is off). The command writes the final, non-live report once the study is over (vlpet.commands.run); closing
waits for a rewrite under way (at most ``CLOSE_TIMEOUT_S``, then a warning) and starts none after it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ray.tune import Callback

from vlpet.study.watch_guard import never_stops_the_study

MIN_INTERVAL_S = 15.0
CLOSE_TIMEOUT_S = 60.0       # how long close() waits for a rewrite under way (a slow bucket) before it warns
_log = logging.getLogger("vlpet.live_report")    # unconfigured: Python prints the warning as a bare line on stderr
_guard = never_stops_the_study("the live report", _log)


class LiveReport(Callback):
    """Keeps ``STUDY_DIR/report/`` current while the study runs; :meth:`close` stops it (waiting up to
    ``close_timeout_s`` for a rewrite under way, so the final report is never written over; no rewrite starts
    once it is called)."""

    def __init__(self, study_dir: str, write: Callable[[str], Any], min_interval_s: float = MIN_INTERVAL_S,
                 close_timeout_s: float = CLOSE_TIMEOUT_S):
        self.study_dir, self.write, self.min_interval_s = study_dir, write, min_interval_s
        self.close_timeout_s = close_timeout_s
        self.attempts = 0                       # rewrites done (written or warned about)
        self.off = False                        # set by the guard when a callback call failed
        self._last_error: str | None = None
        self._wanted = self._closing = self._thread = self._gate = None    # made in setup: Tune pickles callbacks

    @_guard
    def setup(self, **info) -> None:
        self._wanted, self._closing, self._gate = threading.Event(), threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="vlpet-live-report", daemon=True)
        self._thread.start()
        self.request()

    @_guard
    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.request()

    @_guard
    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.request()

    @_guard
    def on_experiment_end(self, trials, **info) -> None:
        self.close()

    def request(self) -> None:
        """Ask for a rewrite."""
        if self._thread is not None and not self._closing.is_set():
            self._wanted.set()

    def close(self) -> None:
        """Stop: no rewrite starts after this; one under way is waited for, at most ``close_timeout_s``."""
        if self._thread is None:
            return
        with self._gate:                        # a rewrite that is about to start sees the flag, or is under way
            self._closing.set()
        self._wanted.set()
        if self._thread is threading.current_thread():
            return
        self._thread.join(self.close_timeout_s)
        if self._thread.is_alive():
            _log.warning("warning: the live report in %s/report was still being written after %.0f s; it may "
                         "write over the final report (`vlpet report %s` writes it again)", self.study_dir,
                         self.close_timeout_s, self.study_dir)

    def switched_off(self) -> None:
        """The guard turned this display off: no rewrite starts any more (nothing is waited for)."""
        if self._closing is not None:
            self._closing.set()
            self._wanted.set()

    def _serve(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with self._gate:
                if self._closing.is_set():
                    return
            self._write()
            if self._closing.wait(self.min_interval_s):
                return

    def _write(self) -> None:
        try:
            self.write(self.study_dir)
            self._last_error = None
        except Exception as error:  # noqa: BLE001 - the study goes on without a live report
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            if message != self._last_error:
                _log.warning("warning: the live report in %s/report could not be written (%s); the study goes on",
                             self.study_dir, message)
            self._last_error = message
        finally:
            self.attempts += 1
