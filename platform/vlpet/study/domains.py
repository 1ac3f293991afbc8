"""A study's search space: one Domain per searched trial key, its ``when`` conditions, and ``search.points``.

```yaml
search_space:
  granularity: {choice: [small, middleX, middleY, large]}
  gate_bottleneck: {choice: [16, 32], when: {granularity: large}}     # active only for the large gate
  lr: {loguniform: [1.0e-4, 1.0e-2]}
  bottleneck: {int: [8, 64], step: 8}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlpet.checks import boolean, fail, is_int, mapping, number, unknown_keys
from vlpet.errors import show

DOMAIN_KINDS = ("choice", "grid", "uniform", "loguniform", "int")
MAX_CHOICES = 1000
SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Domain:
    """One search dimension: ``kind`` in DOMAIN_KINDS, ``values`` (choice/grid) or ``low``/``high``
    (uniform, loguniform, int with optional ``step`` and ``log``), and an optional ``when`` condition."""

    key: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: int | None = None
    log: bool = False
    when: dict[str, Any] = field(default_factory=dict)

    def representative(self) -> Any:
        """A value inside the domain, used to check that the fixed trial plus this value is a valid trial."""
        if self.values:
            return self.values[0]
        return int(self.low) if self.kind == "int" else float(self.low)

    def candidates(self) -> list:
        """Values that together exercise the domain's edges: every choice, or both bounds."""
        if self.values:
            return list(self.values)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]


def plain_value(value: Any, path: str) -> Any:
    """A trial value a domain may hold: a scalar or a list of scalars (e.g. a placement)."""
    if isinstance(value, SCALARS) or (isinstance(value, (list, tuple)) and all(isinstance(v, SCALARS) for v in value)):
        return tuple(value) if isinstance(value, list) else value
    fail(path, f"expected a value or a list of values, got {show(value)}")


def parse_domain(key: Any, raw: Any, trial_keys: set[str]) -> Domain:
    path = f"search_space.{key}"
    if key not in trial_keys:
        fail(path, f"{show(key)} is not a trial config key; allowed keys: {', '.join(sorted(trial_keys))}")
    raw = mapping(path, raw)
    kinds = [k for k in raw if k in DOMAIN_KINDS]
    extra = unknown_keys(raw, [*DOMAIN_KINDS, "step", "log", "when"])
    if len(kinds) != 1 or extra:
        fail(path, f"expected exactly one of {', '.join(DOMAIN_KINDS)} (plus optional step, log, when), "
             f"got {unknown_keys(raw, ())}")
    kind, spec = kinds[0], raw[kinds[0]]
    when = mapping(f"{path}.when", raw.get("when"))
    for other, wanted in when.items():
        plain_value(wanted, f"{path}.when.{other}")
    if kind in ("choice", "grid"):
        if not isinstance(spec, list) or not spec or len(spec) > MAX_CHOICES:
            fail(f"{path}.{kind}", f"expected a non-empty list of at most {MAX_CHOICES} values, got {show(spec)}")
        return Domain(key, kind, tuple(plain_value(v, f"{path}.{kind}[{i}]") for i, v in enumerate(spec)), when=when)
    return _range_domain(key, kind, spec, raw, when)


def _range_domain(key: str, kind: str, spec: Any, raw: dict, when: dict) -> Domain:
    path = f"search_space.{key}"
    if not isinstance(spec, list) or len(spec) != 2:
        fail(f"{path}.{kind}", f"expected [low, high], got {show(spec)}")
    low, high = (number(f"{path}.{kind}", v) for v in spec)
    if not low < high:
        fail(f"{path}.{kind}", f"low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        fail(f"{path}.{kind}", f"loguniform needs a positive low bound, got {low}")
    step = raw.get("step")
    if step is not None and (not is_int(step) or step < 1):
        fail(f"{path}.step", f"expected a positive integer, got {show(step)}")
    log = boolean(f"{path}.log", raw.get("log", kind == "loguniform"))
    return Domain(key, kind, low=low, high=high, step=step, log=log, when=when)


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def active(domain: Domain, chosen: dict[str, Any]) -> bool:
    """Whether ``domain`` is searched given the ``chosen`` values of the other keys (its ``when`` holds)."""
    return all(hashable(chosen.get(k)) in {hashable(v) for v in (w if isinstance(w, list) else [w])}
               for k, w in domain.when.items())


def check_conditions(space: dict[str, Domain]) -> None:
    """Every ``when`` names another search key and only values that key can take."""
    for domain in space.values():
        for other, value in domain.when.items():
            path = f"search_space.{domain.key}.when.{other}"
            if other not in space or other == domain.key:
                fail(path, f"conditions may only name other search keys: {', '.join(k for k in space if k != domain.key)}")
            allowed = space[other].candidates()
            wanted = value if isinstance(value, list) else [value]
            if space[other].values and not set(map(hashable, wanted)) <= set(map(hashable, allowed)):
                fail(path, f"{show(value)} is not among {other}'s values {show(list(allowed))}")


def parse_points(raw: Any, space: dict[str, Domain], algorithm: str) -> tuple[dict[str, Any], ...]:
    """``search.points``: configurations the searcher evaluates first (e.g. the paper's defaults and each
    baseline arm), each a mapping of search keys to values inside their domains."""
    if raw is None:
        return ()
    if algorithm == "grid":
        fail("search.points", "a grid study runs every point already; points are for tpe and nsga2")
    if not isinstance(raw, list):
        fail("search.points", f"expected a list of mappings of search keys to values, got {show(raw)}")
    points = []
    for index, point in enumerate(raw):
        path = f"search.points[{index}]"
        point = mapping(path, point)
        for key, value in point.items():
            _check_point_value(space.get(key), key, value, f"{path}.{key}", space)
        missing = [k for k, d in space.items() if k not in point and active(d, point)]
        extra = [k for k in point if not active(space[k], point)]
        if missing or extra:
            fail(path, f"give exactly the active search keys: missing {missing}, inactive {extra}")
        points.append(point)
    return tuple(points)


def _check_point_value(domain: Domain | None, key: Any, value: Any, path: str, space: dict[str, Domain]) -> None:
    if domain is None:
        fail(path, f"not a search key; search keys: {', '.join(space)}")
    if domain.values:
        if hashable(plain_value(value, path)) not in {hashable(v) for v in domain.values}:
            fail(path, f"{show(value)} is not among {show(list(domain.values))}")
    elif not domain.low <= number(path, value) <= domain.high:
        fail(path, f"{show(value)} is outside [{domain.low}, {domain.high}]")
    elif domain.kind == "int" and float(value) != int(float(value)):
        fail(path, f"{show(value)} is not an integer")
