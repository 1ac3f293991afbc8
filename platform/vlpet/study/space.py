"""From a StudySpec's search space to what the searchers consume.

* :func:`optuna_space` — a define-by-run function for ``OptunaSearch`` (TPE, NSGA-II): each domain becomes a
  ``trial.suggest_*`` call, conditional keys (``when``) are suggested only when their condition holds.
* :func:`grid_points` — every combination of a grid study, conditions applied and duplicates removed.

List values (a placement) are not Optuna categoricals, so they travel as ``"+"``-joined strings and
:func:`decode` turns them back into lists.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from vlpet.study.budgets import BUDGET_KEYS, budget_keys
from vlpet.study.domains import Domain
from vlpet.study.spec import StudySpec

LIST_SEPARATOR = "+"


def _encode(value: Any) -> Any:
    return LIST_SEPARATOR.join(value) if isinstance(value, (list, tuple)) else value


def encode_point(point: dict[str, Any]) -> dict[str, Any]:
    """A configuration as the searcher sees it (list values joined; a sized arm's budget keys, which the
    searcher never suggests, left out)."""
    return {k: _encode(v) for k, v in point.items() if k not in BUDGET_KEYS}


def decode(spec: StudySpec, sampled: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as trial-config values (list-valued choices restored), with a sized arm's budget keys
    (``budget_target``, ``budget_unit``, ``budget_arm``: vlpet.study.budgets), which the store records."""
    out = {}
    for key, value in sampled.items():
        domain = spec.search_space.get(key)
        if domain is not None and domain.values and isinstance(domain.values[0], tuple) and isinstance(value, str):
            value = value.split(LIST_SEPARATOR) if value else []
        out[key] = value
    return {**out, **budget_keys(out.get("arm"), spec.sized_arms)}


def _condition_holds(domain: Domain, chosen: dict[str, Any]) -> bool:
    for other, wanted in domain.when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if other not in chosen or chosen[other] not in {_encode(v) for v in allowed}:
            return False
    return True


def _ordered(spec: StudySpec) -> list[Domain]:
    """Domains with every condition's key before the domain that depends on it."""
    ordered: list[Domain] = []
    pending = list(spec.search_space.values())
    while pending:
        ready = [d for d in pending if all(k in {o.key for o in ordered} for k in d.when)]
        if not ready:
            raise ValueError(f"circular conditions among {[d.key for d in pending]}")
        ordered += ready
        pending = [d for d in pending if d not in ready]
    return ordered


class OptunaSpace:
    """The define-by-run space: ``space(optuna_trial)`` suggests every active key (a class, so Tune can pickle
    the searcher into its experiment state)."""

    def __init__(self, spec: StudySpec):
        self.domains = _ordered(spec)

    def __call__(self, trial) -> None:
        chosen: dict[str, Any] = {}
        for domain in self.domains:
            if not _condition_holds(domain, chosen):
                continue
            if domain.values:
                value = trial.suggest_categorical(domain.key, [_encode(v) for v in domain.values])
            elif domain.kind == "int":
                value = trial.suggest_int(domain.key, int(domain.low), int(domain.high), step=domain.step or 1,
                                          log=domain.log and not domain.step)
            else:
                value = trial.suggest_float(domain.key, float(domain.low), float(domain.high),
                                            log=domain.kind == "loguniform" or domain.log)
            chosen[domain.key] = value
        return None


def optuna_space(spec: StudySpec) -> Callable:
    return OptunaSpace(spec)


def grid_points(spec: StudySpec) -> list[dict[str, Any]]:
    """Every active combination of the (choice/grid) domains, in file order, without duplicates."""
    domains = _ordered(spec)
    points, seen = [], set()
    for combo in itertools.product(*([_encode(v) for v in d.values] for d in domains)):
        chosen: dict[str, Any] = {}
        for domain, value in zip(domains, combo):
            if _condition_holds(domain, chosen):
                chosen[domain.key] = value
        key = tuple(sorted(chosen.items()))
        if key not in seen:
            seen.add(key)
            points.append({d.key: chosen[d.key] for d in spec.search_space.values() if d.key in chosen})
    return points
