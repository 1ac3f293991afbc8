"""Error types raised for bad user input, each carrying a message that names the problem."""


class ConfigError(ValueError):
    """A trial or study configuration is malformed or impossible; the message names the key and what is allowed."""


class DataError(ValueError):
    """A dataset, feature or annotation file is missing or malformed; the message names the file."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped and finished results were kept."""
