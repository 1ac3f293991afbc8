"""Fixtures of the cloud storage tests: one miniature dataset per module (the studies run in their own processes)."""

import pytest

from tests.study.ray_fixtures import mini_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return mini_data(tmp_path_factory.mktemp("data"))
