"""Ctrl-C and SIGTERM during a study: Ray Tune is asked to stop the way it does on Ctrl-C, and the command learns
that the study was interrupted, so that it can say so and exit 128 + the signal number (130, 143).

Why vlpet handles these signals itself (Ray 2.60, read in the installed sources):

* Tune's SIGINT handler (``ray/tune/tune.py``, ``_setup_signal_catching``) ends the tuning loop after one last
  experiment snapshot and stops the trials, but leaves no trace of the interruption: ``Tuner.fit()`` returns as
  if the study had ended. The same handler is also installed for SIGUSR1, whatever ``TUNE_DISABLE_SIGINT_HANDLER``
  says; calling it is how a signal asks Tune to stop gracefully.
* ``ray.init()`` replaces the SIGTERM handler (Ray's node handler kills the local processes and exits 1), and
  Ray's core worker puts a C++ failure handler on SIGTERM that dumps a stack and aborts the driver.

So a study command runs inside :class:`Interruption`, which takes SIGINT and SIGTERM (and keeps Tune off
SIGINT); :func:`fit` runs ``tuner.fit()`` with the handlers armed again (after ``ray.init``). The first signal
during ``fit`` asks Tune to stop gracefully; a signal outside ``fit``, or a second one, raises
:class:`Interrupted` where the driver is. Once the command has begun cleaning up (:meth:`Interruption.finish`),
further signals are ignored so that the embedded Ray is always shut down and no process it started survives.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any, Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)
TUNE_SIGINT_SWITCH = "TUNE_DISABLE_SIGINT_HANDLER"
_active: "Interruption | None" = None


class Interrupted(BaseException):
    """A stop signal arrived where Tune could not be asked to stop gracefully (or a second one arrived).
    Not an ``Exception``, so that no ``except Exception`` on the way up swallows it."""


class Interruption:
    """Within ``with Interruption() as interruption``: SIGINT and SIGTERM are caught, ``interruption.signal``
    is the first one that arrived (None if none did). The previous handlers and Tune's SIGINT switch are
    restored on exit."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._saved: dict[int, Any] = {}
        self._saved_switch: str | None = None
        self._tune_stop: Any = None       # SIGUSR1's handler before fit: Tune's own is installed by fit
        self._fitting = False
        self._finishing = False

    def __enter__(self) -> "Interruption":
        global _active
        self._saved = {number: signal.getsignal(number) for number in SIGNALS}
        self._saved_switch = os.environ.get(TUNE_SIGINT_SWITCH)
        os.environ[TUNE_SIGINT_SWITCH] = "1"          # Tune leaves SIGINT to this handler
        self.arm()
        _active = self
        return self

    def __exit__(self, *exc_info) -> bool:
        global _active
        _active = None
        for number, handler in self._saved.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if self._saved_switch is None:
            os.environ.pop(TUNE_SIGINT_SWITCH, None)
        else:
            os.environ[TUNE_SIGINT_SWITCH] = self._saved_switch
        return False

    @property
    def exit_status(self) -> int:
        """The shell's status for death by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.signal or 0)

    def arm(self) -> None:
        """(Re)install the handlers: ``ray.init`` replaces SIGTERM's."""
        for number in SIGNALS:
            signal.signal(number, self._handle)

    def armed(self, callback: Callable[..., Any] | None = None) -> Callable[..., Any]:
        """``callback`` preceded by :meth:`arm`: an ``on_connected`` hook that re-arms once Ray is up."""
        def rearm(*args: Any) -> Any:
            self.arm()
            return callback(*args) if callback else None
        return rearm

    def finish(self) -> int:
        """End an interrupted command: later signals are ignored while the embedded Ray is shut down (its
        processes are killed); returns the exit status."""
        self.disconnect()
        return self.exit_status

    def disconnect(self) -> None:
        """Disconnect from Ray (an embedded Ray is shut down) with later signals ignored: the command is ending."""
        self._finishing = True
        shutdown_ray()

    def _handle(self, number: int, frame) -> None:
        if self._finishing:
            return
        first = self.signal is None
        if first:
            self.signal = number
        stop_tune = signal.getsignal(signal.SIGUSR1) if self._fitting else None
        if first and callable(stop_tune) and stop_tune is not self._tune_stop:
            stop_tune(signal.SIGUSR1, frame)          # Tune ends its loop after a last experiment snapshot
            return
        raise Interrupted(signal.Signals(number).name)


def fit(tuner):
    """``tuner.fit()``; inside an :class:`Interruption`, a stop signal makes Tune stop gracefully (the
    interruption records which signal) instead of ending the process or passing unnoticed."""
    active = _active
    if active is None or threading.current_thread() is not threading.main_thread():
        return tuner.fit()
    active._tune_stop = signal.getsignal(signal.SIGUSR1)
    active.arm()
    active._fitting = True
    tune_log = logging.getLogger("ray.tune.tune")
    tune_log.addFilter(_no_tune_restore_hint)
    try:
        return tuner.fit()
    finally:
        active._fitting = False
        tune_log.removeFilter(_no_tune_restore_hint)
        signal.signal(signal.SIGUSR1, active._tune_stop if active._tune_stop is not None else signal.SIG_DFL)


def _no_tune_restore_hint(record: logging.LogRecord) -> bool:
    """Drop Tune's "Resume experiment with: Tuner.restore(...)" advice: vlpet resumes from its own store
    (``vlpet resume DIR``, printed by the command), and Tuner.restore would unpickle the study directory."""
    return "Tuner.restore" not in record.getMessage()


def ray_connected() -> bool:
    """Whether this process is connected to Ray already (without importing Ray)."""
    import sys

    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def shutdown_ray() -> None:
    """Disconnect from Ray; an embedded Ray's processes are stopped with it."""
    import sys

    if "ray" in sys.modules:
        import ray

        ray.shutdown()
