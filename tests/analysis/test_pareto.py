"""Pareto mask and hypervolume (moocore) against brute force on random points with ties and duplicates."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from vlpet.analysis import hypervolume, pareto_front

DIRECTIONS = ("max", "min", "max")


def _frame(points: np.ndarray) -> pd.DataFrame:
    """One finished trial per point; columns o0, o1, ... plus the trial id."""
    frame = pd.DataFrame(points, columns=[f"o{i}" for i in range(points.shape[1])])
    return frame.assign(trial_id=[f"t{i}" for i in range(len(frame))], finished=True)


def _brute_front(points: np.ndarray, directions: tuple[str, ...]) -> set[int]:
    """Rows no other row dominates (at least as good everywhere, better somewhere): duplicates all stay."""
    losses = np.where(np.array(directions) == "max", -points, points)
    return {i for i, p in enumerate(losses)
            if not any((q <= p).all() and (q < p).any() for q in losses)}


def _brute_area(points: np.ndarray, reference: tuple[float, float]) -> int:
    """2-D hypervolume (o0 max, o1 min) of integer points: the unit cells below the reference some point covers."""
    best, worst = reference
    return sum(any(m >= y + 1 and c <= x for m, c in points)
               for y, x in itertools.product(range(int(best), int(points[:, 0].max()) + 1),
                                             range(int(points[:, 1].min()), int(worst))))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pareto_front_matches_brute_force_with_ties_and_duplicates(seed, dims):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 5, size=(int(rng.integers(1, 25)), dims)).astype(float)  # few values: many ties
    points = np.vstack([points, points[: int(rng.integers(0, 4))]])                   # and exact duplicates
    objectives = dict(zip([f"o{i}" for i in range(dims)], DIRECTIONS))
    front = pareto_front(_frame(points), objectives, by_config=False)
    assert {int(t[1:]) for t in front["trial_id"]} == _brute_front(points, DIRECTIONS[:dims])


@pytest.mark.parametrize("seed", range(40))
def test_hypervolume_matches_brute_force_area(seed):
    rng = np.random.default_rng(seed)
    points = rng.integers(1, 8, size=(int(rng.integers(1, 20)), 2)).astype(float)
    points = np.vstack([points, points[:2]])
    objectives = {"o0": "max", "o1": "min"}
    value = hypervolume(_frame(points), objectives, {"o0": 0.0, "o1": 9.0}, by_config=False)
    assert value == pytest.approx(_brute_area(points, (0.0, 9.0)))
