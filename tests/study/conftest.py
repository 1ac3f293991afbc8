"""Fixtures of the study tests that train on a real local Ray: one Ray and one miniature dataset per module."""

import pytest

from tests.study.ray_fixtures import mini_data, start_local_ray


@pytest.fixture(scope="module")
def ray_session():
    ray = start_local_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return mini_data(tmp_path_factory.mktemp("data"))
