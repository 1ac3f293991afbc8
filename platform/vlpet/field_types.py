"""Type checks of a configuration dataclass's fields, read from their annotations (torch-free).

Used by the trial config and by every method's options, so a key is checked and reported the same way wherever
it is declared.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from vlpet.errors import ConfigError, show


def coerce_fields(instance: Any) -> None:
    """Check every field of a dataclass instance against its annotation (``int``, ``float``, ``str``, ``bool``,
    optionally ``| None``); ``"none"``/``"null"`` strings become None where None is allowed, numeric strings
    become floats (YAML 1.1 reads ``1e-3`` as a string). Raises ConfigError naming the key."""
    for f in fields(instance):
        value = getattr(instance, f.name)
        expected = f.type if isinstance(f.type, str) else str(f.type)
        optional = "None" in expected
        if optional and not expected.startswith("str") and isinstance(value, str) and value.lower() in ("none", "null"):
            value = None
            object.__setattr__(instance, f.name, None)
        if value is None and optional:
            continue
        object.__setattr__(instance, f.name, checked_value(f.name, expected, value))


def checked_value(key: str, expected: str, value: Any) -> Any:
    """``value`` checked (and a float coerced) against the annotation text ``expected``."""
    if expected.startswith("int") and not is_int(value):
        raise ConfigError(f"{key}: expected an integer, got {show(value)}")
    if expected.startswith("float"):
        value = coerce_float(value)
        if not is_finite(value):
            raise ConfigError(f"{key}: expected a finite number, got {show(value)}")
        return float(value)
    if expected.startswith("str") and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {show(value)}")
    if expected.startswith("bool") and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {show(value)}")
    return value


def is_finite(value: Any) -> bool:
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:                       # an integer too large for a float
        return False


def coerce_float(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; accept numeric strings for float fields."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def allowed(key: str, value: Any, choices) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``, listing them."""
    if value not in choices:
        raise ConfigError(f"{key}: {show(value)} is not allowed; allowed values: {', '.join(map(str, choices))}")


def in_range(key: str, value: Any, low: float, high: float, text: str) -> None:
    """Raise ConfigError ``key: must be <text>, got value`` unless ``low <= value <= high``."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{key}: must be {text}, got {show(value)}")
