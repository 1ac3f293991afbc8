"""A study's ``budgets``: every arm sized to every budget target before the study starts (equal-budget sweeps).

```yaml
budgets: {targets_pct: [1.5, 2, 3, 4, 6], tolerance: 0.05}     # or targets_params / targets_bytes
```
Each arm × target becomes an arm of its own, named ``ARM@TARGET`` (``lora@2%``, ``lora@1500000params``,
``lora@4000000B``), whose size knob (``bottleneck``, ``lora_rank``, ``prompt_length``, ...) is solved by
:func:`vlpet.budget_target.solve_targets` on the meta device. An arm × target is kept when the solved size lands
within ``tolerance`` (a fraction of the target: 0.05 = ±5%); otherwise it is dropped with a note naming the
reachable range (``unreachable: drop``, the default: methods have different floors, a sweep shows each method
where it can go) or refused (``unreachable: refuse``). An arm that reaches no target at all is always refused.

Trials carry their target: :func:`budget_keys` adds ``budget_target`` (the target's value), ``budget_unit`` and
``budget_arm`` (the arm before sizing) to the sampled keys the store records, so the analysis groups by them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from vlpet.budget_target import UNITS, BudgetSolution, Target, UnreachableTarget, solve_targets
from vlpet.checks import allowed, fail, mapping, no_unknown_keys, number
from vlpet.errors import ConfigError, show

BUDGET_KEYS = ("budget_target", "budget_unit", "budget_arm")   # what a trial's sampled keys gain
SECTION_KEYS = ("targets_pct", "targets_params", "targets_bytes", "tolerance", "unreachable")
UNREACHABLE = ("drop", "refuse")
SUFFIX = {"pct": "%", "params": "params", "bytes": "B"}
MAX_TARGETS = 50
DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class BudgetsSpec:
    """``budgets``: the targets (one unit), the tolerance (a fraction of each target) and what an unreachable
    arm × target does."""

    unit: str
    targets: tuple[float, ...]
    tolerance: float = DEFAULT_TOLERANCE
    unreachable: str = "drop"

    @classmethod
    def from_mapping(cls, raw: Any) -> "BudgetsSpec":
        section = mapping("budgets", raw)
        no_unknown_keys("budgets", section, SECTION_KEYS)
        given = [key for key in SECTION_KEYS[:3] if key in section]
        if len(given) != 1:
            fail("budgets", f"give exactly one of targets_pct, targets_params, targets_bytes, got {given or 'none'}")
        key = given[0]
        unit = key.removeprefix("targets_")
        values = section[key]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_TARGETS:
            fail(f"budgets.{key}", f"expected a list of 1 to {MAX_TARGETS} targets, got {show(values)}")
        targets = tuple(float(number(f"budgets.{key}[{i}]", v)) for i, v in enumerate(values))
        for index, value in enumerate(targets):
            try:
                Target(unit, value)
            except ConfigError as error:
                fail(f"budgets.{key}[{index}]", str(error))
        if len(set(targets)) != len(targets):
            fail(f"budgets.{key}", f"each target once, got {show(values)}")
        tolerance = number("budgets.tolerance", section.get("tolerance", DEFAULT_TOLERANCE))
        if not 0 < tolerance < 1:
            fail("budgets.tolerance", f"expected a fraction of the target in (0, 1) (0.05 = ±5%), got {tolerance}")
        unreachable = section.get("unreachable", "drop")
        allowed("budgets.unreachable", unreachable, UNREACHABLE, heading="allowed")
        return cls(unit, targets, float(tolerance), unreachable)

    def label(self, value: float) -> str:
        """``2%``, ``1500000params``, ``4000000B``."""
        return f"{value:g}{SUFFIX[self.unit]}" if self.unit == "pct" else f"{int(value)}{SUFFIX[self.unit]}"


@dataclass(frozen=True)
class BudgetArm:
    """One sized arm: its base arm, its target and what the solver achieved (in the target's unit)."""

    name: str
    base: str
    unit: str
    target: float
    achieved: float
    keys: dict[str, Any] = field(default_factory=dict)      # the solved knob and the keys that follow it
    trainable_pct: float = 0.0

    def line(self) -> str:
        error = 100 * (self.achieved - self.target) / self.target
        solved = ", ".join(f"{k}={v}" for k, v in self.keys.items()) or "no size knob"
        share = "" if self.unit == "pct" else f"; {self.trainable_pct:.3f}% trainable"
        return f"  {self.name}: {solved} -> {_show(self.unit, self.achieved)} ({error:+.1f}% of the target{share})"


@dataclass(frozen=True)
class Expansion:
    arms: dict[str, dict[str, Any]]          # sized arm name -> its trial keys (solved knob included)
    sized: dict[str, BudgetArm]
    notes: tuple[str, ...]                   # arm × target dropped, each with its reachable range


def expand(arms: dict[str, dict], trial: dict[str, Any], budgets: BudgetsSpec) -> Expansion:
    """Every arm (the study's trial alone when it has no arms, named after its method) at every target."""
    if not arms:
        arms = {str(trial.get("method", "vl-pet")): {}}
    sized, keys, notes = {}, {}, []
    targets = [Target(budgets.unit, value) for value in budgets.targets]
    for base, arm_keys in arms.items():
        try:
            solutions = _solve(json.dumps({**trial, **arm_keys}, sort_keys=True, default=str), budgets.unit,
                               budgets.targets)
        except ConfigError as error:
            raise ConfigError(f"budgets: arm {base}: {error}") from None
        kept = 0
        for target, solution in zip(targets, solutions):
            name = f"{base}@{budgets.label(target.value)}"
            problem = _miss(solution, budgets)
            if problem:
                if budgets.unreachable == "refuse":
                    raise ConfigError(f"budgets: arm {base} cannot reach {budgets.label(target.value)}: {problem}")
                notes.append(f"  dropped {name}: {problem}")
                continue
            kept += 1
            keys[name] = {**arm_keys, **solution.keys}
            sized[name] = BudgetArm(name, base, budgets.unit, target.value, solution.achieved, dict(solution.keys),
                                    solution.budget["trainable_pct"])
        if not kept:
            raise ConfigError(f"budgets: arm {base} reaches none of the targets "
                              f"{', '.join(budgets.label(v) for v in budgets.targets)}: {notes[-1].split(': ', 1)[1]}")
    return Expansion(keys, sized, tuple(notes))


@functools.lru_cache(maxsize=256)
def _solve(keys: str, unit: str, values: tuple[float, ...]) -> tuple:
    """Solves kept for this process: a study file is parsed again for its smoke variant, for resume, for the
    runner; the same arm and targets solve to the same sizes."""
    return tuple(solve_targets(json.loads(keys), [Target(unit, value) for value in values]))


def _miss(solution: BudgetSolution | UnreachableTarget, budgets: BudgetsSpec) -> str | None:
    """Why a solve misses its target by more than the tolerance (with the reachable range), or None."""
    if isinstance(solution, UnreachableTarget):
        return f"its reachable range is {_show(budgets.unit, solution.low)} to {_show(budgets.unit, solution.high)}"
    if abs(solution.error) <= budgets.tolerance * solution.target.value:
        return None
    near = ", ".join(_show(budgets.unit, value) for _, value in solution.bracket)
    return (f"the nearest sizes give {near}, more than the tolerance {budgets.tolerance:g} "
            f"(±{100 * budgets.tolerance:g}%) away")


def _show(unit: str, value: float) -> str:
    return f"{value:.3f}%" if unit == "pct" else f"{value:,.0f} {'params' if unit == 'params' else 'bytes'}"


def condition_arms(wanted: Any, sized: dict[str, BudgetArm]) -> Any:
    """A ``when: {arm: ...}`` value with each base arm replaced by its sized arms (``vl-pet`` -> every
    ``vl-pet@X``); a sized arm's own name stays as it is."""
    values = wanted if isinstance(wanted, list) else [wanted]
    out: list = []
    for value in values:
        matches = [name for name, arm in sized.items() if arm.base == value]
        out += matches or [value]
    return out


def budget_keys(arm: Any, sized: dict[str, BudgetArm]) -> dict[str, Any]:
    """The keys a sized arm's trials record beside their sampled values ({} for any other arm)."""
    found = sized.get(arm) if isinstance(arm, str) else None
    if found is None:
        return {}
    return {"budget_target": found.target, "budget_unit": found.unit, "budget_arm": found.base}


def report_lines(sized: dict[str, BudgetArm], notes: tuple[str, ...]) -> list[str]:
    """What ``vlpet validate`` prints: each sized arm, then each dropped arm × target."""
    return [*(arm.line() for arm in sized.values()), *notes]


__all__ = ["BUDGET_KEYS", "BudgetArm", "BudgetsSpec", "Expansion", "UNITS", "budget_keys", "condition_arms",
           "expand", "report_lines"]
