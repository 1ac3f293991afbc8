"""Budget targets: size a trial's PET method so that its trainable parameters land on a target.

The selected method's record names its size knob (``PETMethod.size_knob``: ``bottleneck``, ``lora_rank``,
``prompt_length``, ...), so the solver needs no per-method code. Which knob values are valid is the trial
config's business: a value is valid when ``TrialConfig`` accepts the trial with it (divisibility by ``heads`` or
``phm_dim``, ranges up to ``MAX_SIZE``), and a ``ConfigError`` means "not a valid value". The trainable count is
monotone in the knob (in either direction), so the solver counts the smallest and the largest valid values, checks
that the target lies between them, and narrows that bracket by interpolation, with a bisection step whenever
interpolation fails to halve it, until the two valid values that enclose the target are adjacent; the one closer
to the target wins. Every count is a meta-device build (no weights, no download), a few per solve.

Keys that follow the knob keep following: a key left out of the trial takes its default, so ``gate_bottleneck``
left unset stays equal to ``bottleneck``. Keys given in the trial stay as given, and ``decoder_bottleneck`` (r_v,
its own key with a fixed default of 96, as in the paper's BART and T5 runs alike) is not scaled: the value
adapters are part of the floor, which a trial lowers by setting r_v.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from vlpet.errors import ConfigError
from vlpet.pet.options import MAX_SIZE
from vlpet.pet.registry import method_record
from vlpet.trial_config import TrialConfig

UNITS = {"pct": "trainable_pct", "params": "trainable_params", "bytes": "adapter_bytes"}   # unit -> budget key
PCT_TOLERANCE = 5e-4  # half the printed unit of a trainable % (3 decimals): a target that prints the same is met
DEFAULT_METHOD = next(f.default for f in fields(TrialConfig) if f.name == "method")


@dataclass(frozen=True)
class Target:
    """A budget target: ``value`` trainable % (``unit="pct"``), trainable parameters (``unit="params"``) or bytes
    of the trained weights as stored (``unit="bytes"``: ``adapter_bytes``, which counts ``adapter_bits``)."""

    unit: str
    value: float

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ConfigError(f"target unit: expected one of {', '.join(UNITS)}, got {self.unit!r}")
        high = 100.0 if self.unit == "pct" else float(10**15)
        if not (isinstance(self.value, (int, float)) and 0 < self.value <= high):
            raise ConfigError(f"target {self.unit}: expected a number in (0, {high:g}], got {self.value!r}")

    @property
    def tolerance(self) -> float:
        return PCT_TOLERANCE if self.unit == "pct" else 0.0

    def measure(self, budget: dict) -> float:
        """The budget in this target's unit."""
        return budget[UNITS[self.unit]]

    def show(self, value: float) -> str:
        if self.unit == "pct":
            return f"{value:.3f}%"
        if self.unit == "params":
            return f"{int(value):,} trainable params"
        return f"{int(value):,} bytes ({human_bytes(value)}) of trained weights"

    def describe(self, budget: dict) -> str:
        """A counted budget in this target's unit, with the trainable share (and count) beside it."""
        if self.unit == "pct":
            return f"{budget['trainable_pct']:.3f}% ({budget['trainable_params']:,} trainable params)"
        if self.unit == "params":
            return f"{self.show(self.measure(budget))} ({budget['trainable_pct']:.3f}%)"
        value = self.measure(budget)
        return f"{int(value):,} bytes ({human_bytes(value)}; {budget['trainable_params']:,} trainable params)"


def human_bytes(value: float) -> str:
    """``value`` bytes in B, KB, MB or GB (powers of 1000), two decimals above bytes."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{int(value)} B"


def trial_budget(config: TrialConfig) -> dict:
    """vlpet.build's meta-device count, imported on first use: studies import this module to size their arms,
    and vlpet.build brings transformers (seconds per process) into every study driver and Train controller."""
    from vlpet.build import trial_budget as count

    return count(config)


def make_target(target_pct: float | None = None, target_params: int | None = None,
                target_bytes: int | None = None) -> Target:
    """Exactly one of the three: a trainable %, a number of trainable parameters, or bytes of trained weights."""
    given = [(unit, value) for unit, value in (("pct", target_pct), ("params", target_params), ("bytes", target_bytes))
             if value is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one budget target: a trainable %, a number of trainable params or a number "
                          "of bytes")
    return Target(*given[0])


class UnreachableTarget(ConfigError):
    """No valid size of the method lands on the target; ``low``/``high``: the reachable range (target unit)."""

    def __init__(self, message: str, low: float, high: float) -> None:
        super().__init__(message)
        self.low, self.high = low, high


@dataclass(frozen=True)
class BudgetSolution:
    """A solved trial. ``keys``: the knob and the keys that follow it, as solved; ``bracket``: the two adjacent
    valid knob values enclosing the target, each with its budget in the target's unit (the same value twice on
    an exact hit; ``()`` for a method without a knob); ``counts``: meta-device builds made; ``seconds``: time."""

    config: TrialConfig
    budget: dict
    target: Target
    knob: str | None
    keys: dict[str, Any]
    bracket: tuple[tuple[int, float], ...]
    counts: int
    seconds: float

    @property
    def achieved(self) -> float:
        return self.target.measure(self.budget)

    @property
    def error(self) -> float:
        """achieved − target, in the target's unit."""
        return self.achieved - self.target.value


class _KnobSearch:
    """One trial's knob: each value validated once and counted at most once. A value is not valid when the trial
    config refuses it or, found only when counted, when the method refuses to build it (a ConfigError either way:
    a rank above a layer's width, say); ``builds`` counts the meta-device builds tried."""

    def __init__(self, trial: Mapping[str, Any], knob: str, target: Target, shared: dict | None = None) -> None:
        self.trial, self.knob, self.target = dict(trial), knob, target
        shared = {} if shared is None else shared        # one trial's values, shared by the solves of its targets
        self.configs: dict[int, TrialConfig | None] = shared.setdefault("configs", {})
        self.budgets: dict[int, dict | None] = shared.setdefault("budgets", {})
        self.refusals: dict[int, str] = shared.setdefault("refusals", {})
        self.builds = 0

    def config(self, value: int) -> TrialConfig | None:
        if value not in self.configs:
            try:
                self.configs[value] = TrialConfig.from_dict({**self.trial, self.knob: value})
            except ConfigError:
                self.configs[value] = None
        return self.configs[value]

    def budget(self, value: int) -> dict | None:
        """The budget at a valid value, or None when the method refuses to build it (then no longer valid)."""
        if value not in self.budgets:
            self.builds += 1
            try:
                self.budgets[value] = trial_budget(self.config(value))
            except ConfigError as error:
                self.budgets[value], self.configs[value], self.refusals[value] = None, None, str(error)
        return self.budgets[value]

    def measure(self, value: int) -> float:
        return self.target.measure(self.budget(value))

    def nearest_valid(self, point: float, low: int, high: int) -> int | None:
        """The valid value in [low, high] nearest to ``point`` (the lower one on a tie), or None."""
        if low > high:
            return None
        centre = min(max(int(math.floor(point + 0.5)), low), high)
        for distance in range(max(centre - low, high - centre) + 1):
            for value in (centre - distance, centre + distance):
                if low <= value <= high and self.config(value) is not None:
                    return value
        return None

    def first_valid(self, values: range) -> int | None:
        return next((value for value in values if self.config(value) is not None), None)


def solve_targets(trial: Mapping[str, Any], targets: list[Target]) -> list[BudgetSolution | UnreachableTarget]:
    """:func:`solve_budget` for several targets of one trial, each knob value counted once for all of them; an
    unreachable target's entry is its :class:`UnreachableTarget`."""
    shared: dict = {}
    solved: list[BudgetSolution | UnreachableTarget] = []
    for target in targets:
        try:
            solved.append(solve_budget(trial, target, shared))
        except UnreachableTarget as error:
            solved.append(error)
    return solved


def solve_budget(trial: Mapping[str, Any], target: Target, shared: dict | None = None) -> BudgetSolution:
    """Size the method of ``trial`` (its keys as given: a key left out keeps its default) to ``target``.

    Raises :class:`UnreachableTarget` (a ConfigError) with the reachable range when no size lands on the target,
    and ConfigError for a trial that is invalid whatever the knob. ``shared``: a dict kept between solves of the
    same trial (see :func:`solve_targets`).
    """
    started = time.perf_counter()
    base = _base_config(trial)
    knob = method_record(base.method).size_knob
    if knob is None:
        budget = (shared or {}).get("base") or trial_budget(base)
        if shared is not None:
            shared["base"] = budget
        _check_reachable(target, base, None, [(None, budget)])
        return BudgetSolution(base, budget, target, None, {}, (), 1, time.perf_counter() - started)
    search = _KnobSearch({**trial, "method": base.method}, knob, target, shared)
    smallest, largest = _valid_extremes(search, base)
    _check_reachable(target, base, knob, [(value, search.budget(value)) for value in (smallest, largest)])
    below, above = _narrow(search, smallest, largest)
    best = min((below, above), key=lambda v: (abs(search.measure(v) - target.value), search.measure(v)))
    solved = search.config(best)
    followers = _followers(search, base, smallest, largest)
    keys = {key: solved.to_dict()[key] for key in (knob, *followers)}
    return BudgetSolution(solved, search.budget(best), target, knob, keys,
                          tuple((v, search.measure(v)) for v in (below, above)), search.builds,
                          time.perf_counter() - started)


def _base_config(trial: Mapping[str, Any]) -> TrialConfig:
    """The trial as given; if only its knob value is invalid, the trial with the knob at its default."""
    try:
        return TrialConfig.from_dict(dict(trial))
    except ConfigError:
        try:
            knob = method_record(trial.get("method", DEFAULT_METHOD)).size_knob
        except ValueError:
            knob = None
        if knob is None or knob not in trial:
            raise
        return TrialConfig.from_dict({key: value for key, value in trial.items() if key != knob})


def _valid_extremes(search: _KnobSearch, base: TrialConfig) -> tuple[int, int]:
    """The smallest and the largest valid knob values in [1, MAX_SIZE], both built (the largest only as far as
    the search needs: when larger sizes fail to build, the first one found past the target ends the search)."""
    smallest = search.first_valid(range(1, MAX_SIZE + 1))
    if smallest is None:
        raise ConfigError(f"{search.knob}: no value from 1 to {MAX_SIZE} is valid for method {base.method} with "
                          "the other keys of this trial")
    if search.budget(smallest) is None:
        raise ConfigError(f"{search.knob}: even its smallest valid value, {smallest}, does not build: "
                          f"{search.refusals[smallest]}")
    largest = search.first_valid(range(MAX_SIZE, smallest - 1, -1))
    target, first = search.target.value, search.measure(smallest)
    return smallest, _largest_that_builds(search, smallest, largest,
                                          lambda value: (search.measure(value) - target) * (first - target) <= 0)


def _largest_that_builds(search: _KnobSearch, low: int, high: int, past_target: Callable[[int], bool]) -> int:
    """The largest valid value up to ``high`` that builds, ``low`` building: a method that refuses a size while
    building refuses the sizes above it too (a rank above a layer's width), so bisect the boundary, stopping at
    a value past the target."""
    if search.budget(high) is not None:
        return high
    while not past_target(low):
        probe = search.nearest_valid(_midpoint(low, high), low + 1, high - 1)
        if probe is None:
            return low
        if search.budget(probe) is None:
            high = probe
        else:
            low = probe
    return low


def _narrow(search: _KnobSearch, low: int, high: int) -> tuple[int, int]:
    """Adjacent valid values whose budgets enclose the target (the same value twice on an exact hit).

    The count is monotone in the knob, increasing or decreasing: the bracket keeps the target between its ends'
    measures. Probes interpolate linearly (most counts are affine in the knob, so one probe nearly lands); when a
    probe does not halve the bracket, the next one bisects it (geometrically while the ends differ by more than 2×).
    """
    target, bisect = search.target.value, False
    while True:
        if search.measure(low) == target or search.measure(high) == target:
            hit = low if search.measure(low) == target else high
            return hit, hit
        point = _midpoint(low, high) if bisect else _interpolate(search, low, high, target)
        probe = search.nearest_valid(point, low + 1, high - 1)
        if probe is None:
            return low, high
        if search.budget(probe) is None:  # refused while building: no longer valid, so the next probe differs
            continue
        width = high - low
        if (search.measure(probe) - target) * (search.measure(low) - target) > 0:
            low = probe
        else:
            high = probe
        bisect = not bisect and (high - low) > width / 2


def _interpolate(search: _KnobSearch, low: int, high: int, target: float) -> float:
    at_low, at_high = search.measure(low), search.measure(high)
    if at_high == at_low:
        return _midpoint(low, high)
    return low + (target - at_low) * (high - low) / (at_high - at_low)


def _midpoint(low: int, high: int) -> float:
    return math.sqrt(low * high) if high > 2 * low else (low + high) / 2


def _followers(search: _KnobSearch, base: TrialConfig, smallest: int, largest: int) -> list[str]:
    """The method's keys whose resolved value moves with the knob (``gate_bottleneck`` left unset)."""
    ends = [search.config(value).to_dict() for value in (smallest, largest)]
    keys = method_record(base.method).keys
    return [key for key in keys if key != search.knob and ends[0].get(key) != ends[1].get(key)]


def _check_reachable(target: Target, base: TrialConfig, knob: str | None, ends: list[tuple[int | None, dict]]) -> None:
    """Raise UnreachableTarget unless the target lies between the budgets of the knob's smallest and largest valid
    values (``ends``: ``(value, budget)`` pairs; one pair, value None, for a method without a knob)."""
    ordered = sorted((budget for _, budget in ends), key=target.measure)
    low, high = ordered[0], ordered[-1]
    if target.measure(low) - target.tolerance <= target.value <= target.measure(high) + target.tolerance:
        return
    projector = low["breakdown"].get("visual projector", 0)
    floor = (f"every method also trains the visual projector ({projector:,} params, "
             f"{100 * projector / low['total_params']:.2f}% here), so there is a floor")
    where, wanted = f"{base.method} on {base.backbone}", target.show(target.value)
    if knob is None:
        raise UnreachableTarget(f"target {wanted} cannot be reached: {where} has no size knob, so it has exactly one "
                                f"size, {target.describe(low)}; {floor}", target.measure(low), target.measure(high))
    raise UnreachableTarget(
        f"target {wanted} cannot be reached by {where}: {knob} from {ends[0][0]} to {ends[-1][0]} (its smallest and "
        f"largest values that validate and build; at most {MAX_SIZE:,}) reaches {target.describe(low)} to "
        f"{target.describe(high)}; {floor}; the solver sets only {knob} (and the keys left to follow it), other "
        "keys stay as given", target.measure(low), target.measure(high))

