"""Seeds as the platform's own axis (``tune.search.Repeater`` breaks with multi-objective Optuna).

:class:`SeedRepeater` wraps any Tune searcher: each configuration it suggests runs once per seed of the study,
as separate Tune trials, and the wrapped searcher is told the seed mean of every objective once all seeds of
that configuration have ended (a configuration whose seeds all failed is told as an error). A seed that Tune ends
without a result (a paused seed stopped with its group by :class:`vlpet.study.seed_scheduler.SeedGroupScheduler`)
counts with the last result it reported. A configuration drawn again after it finished is answered from its known
result instead of being trained twice. A resumed study hands it a :class:`vlpet.study.recovery.RecoveryPlan`:
the seed means of the configurations that ended are known from the start, and an open configuration, once the
searcher suggests it again, runs only its seeds that had not ended, each under its stored trial id and from its
checkpoint. With ``on_repeat`` (vlpet.study.per_arm.ArmTopUp for ``search: {per_arm: N}``), a draw that does not
count as a new configuration is handed to it, so the arm it used up can be queued again.
:class:`GridSearcher` is the searcher of grid studies: it hands out the grid points in order.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from ray.tune.search import Searcher

from vlpet.study.recovery import RecoveryPlan, SeedRun, configuration_id


class GridSearcher(Searcher):
    """Suggests each grid point once, then reports the search finished."""

    def __init__(self, points: list[dict[str, Any]], metric: list[str] | str | None = None,
                 mode: list[str] | str | None = None):
        super().__init__(metric=None, mode=None)
        self.points, self.next_index = list(points), 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.next_index >= len(self.points):
            return Searcher.FINISHED
        self.next_index += 1
        return dict(self.points[self.next_index - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    # Tune saves the searcher with its experiment snapshots; vlpet never reads them back (a resumed study is
    # rebuilt from the store, vlpet.study.recovery), so the state is written as JSON and never restored.
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w", encoding="utf-8") as handle:
            json.dump({"points": self.points, "next_index": self.next_index}, handle, default=str)

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("vlpet resumes studies from its own store, not from Tune's searcher state")


# What SeedRepeater.get_state saves: its own bookkeeping (Tune saves the wrapped searcher itself).
_STATE_KEYS = ("groups", "trial_group", "open_group", "seeds", "known", "aliases", "running", "waiting",
               "last_results", "resumable")


class SeedRepeater(Searcher):
    """Runs every suggested configuration once per seed; the inner searcher sees one trial per configuration."""

    def __init__(self, searcher: Searcher, seeds: list[int], objectives: list[str],
                 recovery: RecoveryPlan | None = None, on_repeat=None):
        super().__init__(metric=None, mode=None)
        self.searcher, self.seeds, self.objectives = searcher, list(seeds), list(objectives)
        self.on_repeat = on_repeat                       # called as on_repeat(searcher, config, counted ids)
        # group id -> {"config", "todo": [SeedRun still to hand out], "trials": {trial_id: result}}
        self.groups: dict[str, dict[str, Any]] = {}
        self.trial_group: dict[str, str] = {}
        self.open_group: str | None = None
        # finished configuration -> its seed mean ({} = failed)
        self.known: dict[str, dict[str, float]] = dict(recovery.decided) if recovery else {}
        self.resumable = dict(recovery.open) if recovery else {}   # open configuration of a resumed study
        self.aliases: dict[str, str] = {}                # group id -> the inner searcher's id for it
        self.running: set[str] = set()                   # configurations being trained now
        self.waiting: dict[str, list[str]] = {}          # running configuration -> repeats drawn meanwhile
        self.last_results: dict[str, dict[str, Any]] = {}  # running trial -> the objectives it last reported

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        group = self.groups.get(self.open_group) if self.open_group else None
        if group is None or not group["todo"]:
            config = self._new_configuration(trial_id)
            if config is None or config == Searcher.FINISHED:
                return config
            self.open_group = trial_id
            group = self.groups[trial_id] = self._new_group(config)
        run: SeedRun = group["todo"].pop(0)
        group["trials"][trial_id] = None
        self.trial_group[trial_id] = self.open_group
        if run.result:                      # a resumed seed stopped before it reports counts with its last result
            self.last_results[trial_id] = dict(run.result)
        return {**group["config"], **run.tune_keys()}

    def _new_group(self, config: dict[str, Any]) -> dict[str, Any]:
        """A configuration's seeds: all of them, or for an open configuration of a resumed study, those that had
        not ended (the ended ones count with their stored results)."""
        resumed = self.resumable.pop(configuration_id(config), None)
        if resumed is None:
            return {"config": dict(config), "todo": [SeedRun(seed=s) for s in self.seeds], "trials": {}}
        ended = {f"stored:{run.trial_id}": {"result": None if run.failed else dict(run.result or {}), "done": True}
                 for run in resumed.seeds if run.ended}
        return {"config": dict(config), "todo": resumed.to_run, "trials": ended}

    def _new_configuration(self, trial_id: str, max_repeats: int = 50):
        """The inner searcher's next configuration that has not run yet. A repeat of a finished configuration
        (e.g. a baseline arm with nothing to search, drawn again) is answered from its known seed mean at once
        instead of being trained again."""
        for attempt in range(max_repeats):
            ask_id = trial_id if attempt == 0 else f"{trial_id}-repeat{attempt}"
            config = self.searcher.suggest(ask_id)
            if config is None or config == Searcher.FINISHED:
                return config
            config_id = _config_id(config)
            known = self.known.get(config_id)
            if config_id in self.resumable:                      # an open configuration of a resumed study
                if ask_id != trial_id:
                    self.aliases[trial_id] = ask_id
                self.running.add(config_id)
                return config
            running = config_id in self.running and attempt < max_repeats - 1
            if running:                                          # told when the running one ends
                self.waiting.setdefault(config_id, []).append(ask_id)
                self._repeated(config)
                continue
            if known is None or attempt == max_repeats - 1:      # new, or the searcher only repeats itself
                if ask_id != trial_id:
                    self.aliases[trial_id] = ask_id
                self.running.add(config_id)
                return config
            self.searcher.on_trial_complete(ask_id, result=known if known else None, error=not known)
            self._repeated(config)
        return Searcher.FINISHED

    def _repeated(self, config: dict[str, Any]) -> None:
        """A draw that is not a new configuration: ``on_repeat`` sees it with the configurations that count."""
        if self.on_repeat is not None:
            self.on_repeat(self.searcher, config, {*self.known, *self.running, *self.resumable})

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.trial_group:
            self.last_results[trial_id] = {m: result[m] for m in self.objectives if m in result}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        group_id = self.trial_group.get(trial_id)
        if group_id is None:
            return
        group = self.groups[group_id]
        last = self.last_results.pop(trial_id, None)
        group["trials"][trial_id] = {"result": None if error else dict(result or last or {}), "done": True}
        entries = list(group["trials"].values())
        if len(entries) < len(self.seeds) or not all(e and e.get("done") for e in entries):
            return
        usable = [e["result"] for e in entries if e["result"] and all(_finite(e["result"].get(m)) for m in self.objectives)]
        inner_id = self.aliases.get(group_id, group_id)
        config_id = _config_id(group["config"])
        mean = {m: sum(float(r[m]) for r in usable) / len(usable) for m in self.objectives} if usable else {}
        self.known[config_id] = mean
        self.running.discard(config_id)
        for ask_id in [inner_id, *self.waiting.pop(config_id, [])]:
            self.searcher.on_trial_complete(ask_id, result=mean or None, error=not mean)

    # Tune saves wrappers (objects with a ``searcher``) through get_state/set_state and the innermost searcher
    # through its own save/restore, so only this wrapper's bookkeeping goes here.
    def get_state(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k in _STATE_KEYS}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _config_id(config: dict[str, Any]) -> str:
    return configuration_id(config)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
