"""What a Tune scheduler sees of Tune, for scheduler tests without Ray: trials and the controller's trial list."""

from __future__ import annotations

from ray.tune.experiment import Trial


class FakeTrial:
    """What the scheduler reads of a Tune trial."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id, self.config, self.status, self.is_saving = trial_id, config, Trial.PENDING, False

    def set_status(self, status: str) -> None:
        self.status = status


class FakeController:
    """Tune's controller as a scheduler sees it: its trials, and stop_trial as Tune runs it. Test modules add the
    ``report`` of the results their scheduler judges."""

    def __init__(self, scheduler):
        self.scheduler, self.trials = scheduler, []

    def get_trials(self):
        return self.trials

    def add(self, trial_id: str, seed: int, **config) -> FakeTrial:
        trial = FakeTrial(trial_id, {**config, "seed": seed})
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)
        return trial

    def stop_trial(self, trial: FakeTrial) -> None:
        if trial.status in (Trial.PAUSED, Trial.PENDING):
            self.scheduler.on_trial_remove(self, trial)
        trial.status = Trial.TERMINATED
