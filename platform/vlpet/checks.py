"""Checks of configuration values, shared by the trial config, the study spec and its sections (torch-free).

Each check takes the key path first (``search.num_samples``, ``lr``), then the value, and either returns the
value (coerced where a YAML file may spell it as text: ``1e-3`` is a string in YAML 1.1) or raises
:class:`~vlpet.errors.ConfigError` with a one-line message ``<key>: <what is wrong>, got <value>`` that names
what is allowed, so the CLI can print it as it is.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Iterable, NoReturn

from vlpet.errors import ConfigError, show

__all__ = ["allowed", "boolean", "coerce_fields", "coerce_float", "fail", "finite_float", "fraction", "in_range",
           "integer", "is_finite", "is_int", "mapping", "no_unknown_keys", "non_negative", "number", "of_type",
           "positive", "positive_int", "string", "unknown_keys"]


def fail(key: str, message: str) -> NoReturn:
    """Raise ConfigError ``<key>: <message>``."""
    raise ConfigError(f"{key}: {message}")


# ---- predicates and coercion (no error raised) ---------------------------------------------------------------
def is_int(value: Any) -> bool:
    """An integer that is not a bool (YAML's ``true`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A finite int or float, not a bool."""
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:                       # an integer too large for a float
        return False


def coerce_float(value: Any) -> Any:
    """A numeric string as a float (YAML 1.1 reads ``1e-3`` as a string); anything else unchanged."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def unknown_keys(data: dict, known: Iterable) -> list[str]:
    """Keys of ``data`` outside ``known``, as sorted strings (YAML keys may be numbers, booleans or null)."""
    known = set(known)
    return sorted(str(key) for key in data if key not in known)


# ---- types --------------------------------------------------------------------------------------------------
def mapping(key: str, value: Any) -> dict:
    """``value`` as a mapping (None → {})."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(key, f"expected a mapping, got {show(value)}")
    return value


def no_unknown_keys(key: str, data: dict, known: Iterable) -> None:
    """Every key of the mapping ``data`` is one of ``known``: ``<key>: unknown key(s) [...]; allowed: a, b``."""
    known = list(known)
    unknown = unknown_keys(data, known)
    if unknown:
        fail(key, f"unknown key(s) {unknown}; allowed: {', '.join(map(str, known))}")


def number(key: str, value: Any) -> int | float:
    """A finite int or float, kept as given (a numeric string becomes a float)."""
    value = coerce_float(value)
    if not is_finite(value):
        fail(key, f"expected a finite number, got {show(value)}")
    return value


def finite_float(key: str, value: Any) -> float:
    """A finite number as a float (a numeric string accepted)."""
    return float(number(key, value))


def integer(key: str, value: Any) -> int:
    """An integer (not a bool)."""
    if not is_int(value):
        fail(key, f"expected an integer, got {show(value)}")
    return value


def string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        fail(key, f"expected a string, got {show(value)}")
    return value


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(key, f"expected true or false, got {show(value)}")
    return value


def of_type(key: str, annotation: str, value: Any) -> Any:
    """``value`` checked against a dataclass field's annotation text: ``int``, ``float`` (coerced to float),
    ``str`` or ``bool``, optionally ``| None`` (the caller decides what None means); other types pass."""
    check = TYPE_CHECKS.get(annotation.split("|")[0].strip())
    return check(key, value) if check else value


TYPE_CHECKS = {"int": integer, "float": finite_float, "str": string, "bool": boolean}


# ---- values -------------------------------------------------------------------------------------------------
def allowed(key: str, value: Any, choices: Iterable, heading: str = "allowed values") -> Any:
    """``value`` is one of ``choices``: ``<key>: 'x' is not allowed; <heading>: a, b``."""
    choices = tuple(choices)
    if value not in choices:                    # tuple membership compares, never hashes: any value is safe
        fail(key, f"{show(value)} is not allowed; {heading}: {', '.join(map(str, choices))}")
    return value


def positive_int(key: str, value: Any, high: int, low: int = 1) -> int:
    """An integer from ``low`` (1 or 0) to ``high``: ``expected a positive integer of at most <high>``."""
    if not is_int(value) or not low <= value <= high:
        kind = "positive" if low == 1 else "non-negative"
        fail(key, f"expected a {kind} integer of at most {high}, got {show(value)}")
    return value


def in_range(key: str, value: Any, low: float, high: float, text: str) -> Any:
    """``low <= value <= high`` (None passes: an optional key left unset): ``<key>: must be <text>, got <value>``."""
    if value is not None and not low <= value <= high:
        fail(key, f"must be {text}, got {show(value)}")
    return value


def fraction(key: str, value: float) -> float:
    """A number in [0, 1) (a dropout, a warm-up ratio)."""
    if not 0.0 <= value < 1.0:
        fail(key, f"must be in [0, 1), got {show(value)}")
    return value


def positive(key: str, value: float) -> float:
    if not value > 0:
        fail(key, f"must be positive, got {show(value)}")
    return value


def non_negative(key: str, value: float) -> float:
    if not value >= 0:
        fail(key, f"must be non-negative, got {show(value)}")
    return value


# ---- dataclasses --------------------------------------------------------------------------------------------
def coerce_fields(instance: Any) -> None:
    """Check every field of a dataclass instance against its annotation (:func:`of_type`), in place: ``"none"`` and
    ``"null"`` strings become None where the annotation allows None (not for ``str`` fields, where they are
    words), numeric strings become floats. Frozen dataclasses included (their ``__post_init__`` calls this)."""
    for item in fields(instance):
        value = getattr(instance, item.name)
        annotation = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", str(item.type))
        optional = "None" in annotation
        if optional and not annotation.startswith("str") and isinstance(value, str) and value.lower() in ("none", "null"):
            value = None
        if not (value is None and optional):
            value = of_type(item.name, annotation, value)
        object.__setattr__(instance, item.name, value)
