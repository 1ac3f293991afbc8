"""cluster.yaml is a valid Ray cluster-launcher file (Ray's own schema) that keeps the dashboard private."""

import copy
import os

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cluster.yaml")


def load():
    with open(PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_cluster_yaml_validates_against_the_schema_shipped_with_ray():
    config = load()
    validate_config(config)
    prepared = prepare_config(copy.deepcopy(config))           # with Ray's provider defaults filled in
    validate_config(prepared)
    assert prepared["head_node_type"] == "head" and "gpu_worker" in prepared["available_node_types"]


def test_dashboard_stays_on_the_heads_localhost_and_token_auth_stays_on():
    config = load()
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in " ".join(config["worker_start_ray_commands"])
    text = open(PATH, encoding="utf-8").read().lower()
    for secret in ("aws_secret_access_key", "aws_access_key_id", "password", "bearer "):
        assert secret not in text


def test_every_node_gets_the_project_installed():
    config = load()
    assert config["file_mounts"]["~/vlpet"] == "."
    assert any("pip install -e ~/vlpet" in c for c in config["setup_commands"])
