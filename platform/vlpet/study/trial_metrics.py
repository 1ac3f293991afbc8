"""Per-trial metrics through ``ray.util.metrics``, for the Ray dashboard's metrics view (Prometheus + Grafana).

Rank 0 of every trial sets these gauges at the trial's start, at each evaluation and at its end; each series is
tagged ``trial_id``, ``study`` and ``label`` (the trial's configuration label, vlpet.study.trial_tag). Ray's
metrics agent on each node serves them in Prometheus' text format on the node's ``metrics_export_port``, with
Ray's ``ray_`` prefix: ``ray_vlpet_trial_metric``, ``ray_vlpet_trial_step``, ... Ray takes ASCII tag values
only, so the label's ``·`` is written ``|`` there. Setting a gauge only records the value in the process (about
2 µs); nothing leaves it unless a metrics agent collects it. A gauge that Ray refuses never fails the trial.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)

TAG_KEYS = ("trial_id", "study", "label")
GAUGES = {
    "metric": "The trial's latest primary metric on validation data (higher is better)",
    "step": "The training step of the trial's latest evaluation",
    "progress": "The trial's latest evaluated step over its total steps (0 to 1)",
    "samples_per_s": "Training samples per second at the trial's latest evaluation",
    "seed": "The trial's seed",
    "running": "1 while the trial trains, 0 once it ended in this process",
}


def gauge_name(key: str) -> str:
    """The gauge's name as vlpet registers it (Prometheus shows it with Ray's ``ray_`` prefix)."""
    return f"vlpet_trial_{key}"


@functools.cache
def _gauges() -> dict[str, Any]:
    """This process's gauges, registered once."""
    from ray.util.metrics import Gauge

    return {key: Gauge(gauge_name(key), description=text, tag_keys=TAG_KEYS) for key, text in GAUGES.items()}


class TrialMetrics:
    """The gauges of one trial: :meth:`started`, :meth:`evaluated` per evaluation, :meth:`ended`. Does nothing
    outside a Ray worker (``vlpet train`` runs without Ray)."""

    def __init__(self, trial_id: str, study: str, label: str) -> None:
        import ray

        self.tags = {"trial_id": ascii_tag(trial_id), "study": ascii_tag(study), "label": ascii_tag(label)}
        self.enabled = ray.is_initialized()

    def started(self, seed: int) -> None:
        self._set(running=1.0, seed=float(seed))

    def evaluated(self, metrics: dict[str, Any], total_steps: int) -> None:
        """Record one evaluation's ``metric``, ``step``, ``samples_per_s`` and the progress they make."""
        values = {key: metrics[key] for key in ("metric", "step", "samples_per_s")
                  if isinstance(metrics.get(key), (int, float)) and not isinstance(metrics.get(key), bool)}
        if "step" in values and total_steps:
            values["progress"] = min(1.0, values["step"] / total_steps)
        self._set(**values)

    def ended(self) -> None:
        self._set(running=0.0)

    def _set(self, **values: float) -> None:
        if not self.enabled:
            return
        try:
            gauges = _gauges()
            for key, value in values.items():
                gauges[key].set(float(value), tags=self.tags)
        except Exception as error:            # noqa: BLE001 - metrics are for watching; the trial goes on
            logger.warning("trial %s: Ray refused its metrics (%s); it goes on without them", self.tags, error)
            self.enabled = False


def ascii_tag(text: str) -> str:
    """``text`` as a Ray metric tag value, which must be ASCII: ``·`` becomes ``|``, ``…`` ``...``, others ``?``."""
    return text.replace("·", "|").replace("…", "...").encode("ascii", "replace").decode("ascii")
