"""Error types raised for bad user input, each carrying a message that names the problem."""

import reprlib


class ConfigError(ValueError):
    """A trial or study configuration is malformed or impossible; the message names the key and what is allowed."""


class DataError(ValueError):
    """A dataset, feature or annotation file is missing or malformed; the message names the file."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped and finished results were kept."""


def show(value: object) -> str:
    """``repr(value)`` cut to a readable length, for error messages about values that may be huge."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 10
    short.maxlevel = 3
    return short.repr(value)
