"""A Tune callback on the study driver that keeps each trial's status record in the study store.

Workers write RUNNING when they start and TERMINATED when a trial ends its budget (or ERROR with the reason
for a diverged loss or bad data). What only the driver sees is recorded here: a trial stopped early by the
scheduler (STOPPED, told apart by its last stored evaluation not being ``finished``) and a trial whose process
kept dying until Tune gave up (ERROR with Tune's error text).
"""

from __future__ import annotations

from ray.tune import Callback

from vlpet.study.seed_scheduler import member_id
from vlpet.study.store import StudyStore, TrialStatus


class StudyLedger(Callback):
    def __init__(self, study_dir: str):
        self.study_dir = study_dir

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        store, trial_id = StudyStore(self.study_dir), member_id(trial)   # a resumed seed keeps its stored id
        if store.status_of(trial_id) in (TrialStatus.ERROR, TrialStatus.TERMINATED):
            return
        rows = store.evaluations(trial_id)
        if rows and rows[-1].get("finished"):
            store.mark_finished(trial_id)
        else:
            store.mark_stopped(trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        error = trial.get_error()
        message = str(error).strip().splitlines()[-1] if error else "the trial failed (see the Tune trial's error.txt)"
        StudyStore(self.study_dir).mark_failed(member_id(trial), message)
