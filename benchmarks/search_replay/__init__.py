"""Search-efficiency benchmark (issue 15 item 5): strategies replayed over one recorded grid study."""

from __future__ import annotations

from typing import Any


def run(settings) -> dict[str, Any]:
    """The harness entry (benchmarks.run); Ray Tune and Optuna are imported only when it runs."""
    from benchmarks.search_replay.replay import run as replay_run

    return replay_run(settings)


__all__ = ["run"]
