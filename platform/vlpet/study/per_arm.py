"""``search: {per_arm: N}``: every arm gets exactly N sampled configurations (each run once per seed), so no method
looks better because it was tuned more.

```yaml
arms: [{name: vl-pet, trial: {method: vl-pet}}, {name: lora, trial: {method: lora}}]
search_space: {lr: {loguniform: [1.0e-4, 1.0e-2]}, lora_rank: {choice: [4, 8, 16], when: {arm: lora}}}
search: {algorithm: tpe, per_arm: 6}                 # 12 configurations: 6 per arm, the study's num_samples
```

The arm of every configuration is fixed in advance, in a balanced round-robin order (:func:`per_arm_queue`): round
k gives each arm, in the arms' order, its k-th ``search.points`` entry if it has one, else only the arm. The queue
goes to Optuna as its points to evaluate (``enqueue_trial`` takes partial parameters: Optuna's sampler chooses the
rest), so it lives in the study's ``optuna.db`` and a resumed study continues it. A draw that does not count as a
new configuration (a repeat of one already tried) would use up its arm's place: :class:`ArmTopUp` puts the arm back
in the queue while the arm has fewer than N configurations tried or queued. Sized arms of ``budgets`` (``arm@X%``)
are arms. Grid studies refuse ``per_arm`` (they run every arm's every combination already).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from vlpet.checks import fail
from vlpet.study.arms import ARM_KEY
from vlpet.study.domains import Domain, active
from vlpet.study.sections import MAX_SAMPLES

__all__ = ["ArmTopUp", "check_points", "distinct_configurations", "per_arm_queue", "per_arm_samples"]


def per_arm_samples(per_arm: int | None, num_samples: int, space: dict[str, Domain], algorithm: str) -> int:
    """The study's number of configurations: ``num_samples``, or with ``per_arm`` N, N x arms (checked: the study
    has arms, is not a grid, and every arm has at least N distinct configurations to sample)."""
    if per_arm is None:
        return num_samples
    if algorithm == "grid":
        fail("search.per_arm", "a grid study runs every combination of every arm already; per_arm is for tpe and "
             "nsga2")
    if ARM_KEY not in space:
        fail("search.per_arm", f"needs arms to share the configurations among (per_arm {per_arm}): list the methods "
             "under arms (or size them with budgets), or give search.num_samples instead")
    arms = list(space[ARM_KEY].values)
    for arm in arms:
        found = distinct_configurations(space, arm, per_arm)
        if found < per_arm:
            keys = [d.key for d in space.values() if d.key != ARM_KEY and ARM_KEY in d.when
                    and arm in _listed(d.when[ARM_KEY])]
            fail("search.per_arm", f"arm {arm!r} has only {found} distinct configuration(s) to sample, fewer than "
                 f"per_arm {per_arm} (keys searched for it: {', '.join(keys) or 'none'}); search more keys for it "
                 "or lower per_arm")
    if per_arm * len(arms) > MAX_SAMPLES:
        fail("search.per_arm", f"{per_arm} x {len(arms)} arms = {per_arm * len(arms)} configurations, more than "
             f"{MAX_SAMPLES}")
    return per_arm * len(arms)


def check_points(per_arm: int | None, points: Sequence[dict[str, Any]]) -> None:
    """``search.points`` count towards their arm's N: no arm may have more than N."""
    if per_arm is None:
        return
    for arm, count in Counter(p[ARM_KEY] for p in points).items():
        if count > per_arm:
            fail("search.points", f"{count} points for arm {arm!r}, more than per_arm {per_arm} (each point is one of "
                 "its arm's configurations)")


def per_arm_queue(arms: Iterable[str], per_arm: int, points: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The configurations to evaluate, in balanced round-robin order: round k gives each arm its k-th point, else
    ``{arm: name}`` (the sampler chooses the rest). Every prefix of the queue is balanced within one per arm."""
    arms = list(arms)
    own = {arm: [p for p in points if p.get(ARM_KEY) == arm] for arm in arms}
    return [own[arm][k] if k < len(own[arm]) else {ARM_KEY: arm} for k in range(per_arm) for arm in arms]


def distinct_configurations(space: dict[str, Domain], arm: str, enough: int) -> int:
    """How many distinct configurations the search space has for ``arm``, counted up to ``enough`` (a range of
    floats that is active for the arm counts as unbounded)."""
    partial: list[dict[str, Any]] = [{ARM_KEY: arm}]
    for domain in _ordered(space):
        grown = []
        for chosen in partial:
            if not active(domain, chosen):
                grown.append(chosen)
                continue
            values = _values(domain, enough)
            if values is None:
                return enough
            grown += [{**chosen, domain.key: v} for v in values]
            if len(grown) >= enough:
                return enough
        partial = grown
    return len(partial)


def _values(domain: Domain, enough: int) -> Sequence | None:
    """A domain's values, at most ``enough`` of them; None for a float range."""
    if domain.values:
        return domain.values[:enough]
    if domain.kind != "int":
        return None
    return range(int(domain.low), int(domain.high) + 1, domain.step or 1)[:enough]


def _ordered(space: dict[str, Domain]) -> list[Domain]:
    """The non-arm domains with every condition's key before the domain that depends on it."""
    pending = [d for d in space.values() if d.key != ARM_KEY]
    ordered: list[Domain] = []
    while pending:
        placed = {ARM_KEY, *(d.key for d in ordered)}
        ready = [d for d in pending if set(d.when) <= placed] or pending[:1]
        ordered += ready
        pending = [d for d in pending if d not in ready]
    return ordered


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class ArmTopUp:
    """Called by :class:`vlpet.study.seeds.SeedRepeater` with a draw that does not count as a new configuration
    (a repeat of one tried or running): if its arm has fewer than N configurations counted or still queued in the
    Optuna study, the arm goes back in the queue, so every arm still ends with N."""

    def __init__(self, per_arm: int, identify: Callable[[dict[str, Any]], str]):
        # identify: vlpet.study.recovery.configuration_id (passed in: recovery imports the spec, which imports this)
        self.per_arm, self.identify = per_arm, identify

    def __call__(self, searcher, config: dict[str, Any], counted: Iterable[str]) -> bool:
        """``searcher``: the OptunaSearch; ``counted``: the ids (``identify``) of the configurations that count.
        Returns whether the arm was queued again."""
        import optuna

        arm, counted = config.get(ARM_KEY), set(counted)
        study = searcher._ot_study                # OptunaSearch's study (its sampler, the study's optuna.db)
        tried = sum(1 for c in counted if json.loads(c).get(ARM_KEY) == arm)
        # a queued configuration that counts already (a resumed study's open one, re-queued) is no new place
        fixed = [t.system_attrs.get("fixed_params", {})
                 for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))]
        queued = sum(1 for f in fixed if f.get(ARM_KEY) == arm and self.identify(f) not in counted)
        if arm is None or tried + queued >= self.per_arm:
            return False
        study.enqueue_trial({ARM_KEY: arm}, skip_if_exists=False)
        return True
