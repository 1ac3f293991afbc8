"""A study's displays (the progress lines, the live report) never stop the study.

Tune's ``CallbackList`` calls each callback's methods on the driver's loop without catching what they raise, so
an exception in a display (a closed stdout pipe, an unreadable store) would end the whole study. Each display's
callback methods are wrapped by :func:`never_stops_the_study`: the first exception is one warning line, then the
display turns itself off (its later calls do nothing) and the study goes on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any, Callable


def never_stops_the_study(what: str, log: logging.Logger) -> Callable:
    """A decorator for the callback methods of a display named ``what`` (e.g. ``"the progress display"``): a
    method that raises is one warning on ``log``, sets the display's ``off``, calls its ``switched_off()`` if it
    has one, and returns None. Once ``off``, the wrapped methods return None at once."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def guarded(self, *args, **kwargs) -> Any:
            if getattr(self, "off", False):
                return None
            try:
                return method(self, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the reason this module exists
                self.off = True
                message = f"{type(error).__name__}: {error}".splitlines()[0]
                with contextlib.suppress(Exception):         # a stderr that is gone too: nothing left to tell
                    log.warning("warning: %s stopped (%s); the study goes on without it", what, message)
                with contextlib.suppress(Exception):
                    getattr(self, "switched_off", lambda: None)()
                return None

        return guarded

    return decorate
