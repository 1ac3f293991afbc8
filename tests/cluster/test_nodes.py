"""The storage check of a study on a cluster (vlpet.study.nodes), on written mount tables and node lists."""

from __future__ import annotations

import pytest

from tests.study.ray_fixtures import write_study
from vlpet.errors import ConfigError
from vlpet.study.nodes import Node, check_storage_reaches_trials, filesystem_of
from vlpet.study.spec import load_study

HEAD = Node("a" * 56, "10.0.0.1", {"CPU": 8.0})
WORKER = Node("b" * 56, "10.0.0.2", {"CPU": 8.0, "GPU": 1.0})


@pytest.fixture
def mounts(tmp_path):
    for point in ("nfs/tmp", "my bucket"):                    # mount points exist
        (tmp_path / point).mkdir(parents=True)
    table = tmp_path / "mounts"
    table.write_text(f"/dev/sda1 / ext4 rw 0 0\nnas:/export {tmp_path}/nfs nfs4 rw 0 0\n"
                     f"s3fs {tmp_path}/my\\040bucket fuse.s3fs rw 0 0\ntmpfs {tmp_path}/nfs/tmp tmpfs rw 0 0\n")
    return str(table)


@pytest.fixture
def spec(tmp_path):
    return load_study(write_study(tmp_path, tmp_path, name="nodes", seeds=[1]))


def test_the_mount_holding_a_path_is_its_longest_mount_point(tmp_path, mounts):
    assert filesystem_of(f"{tmp_path}/nfs/runs/a", mounts) == "nfs4"          # not yet created: its ancestor's
    assert filesystem_of(f"{tmp_path}/nfs/tmp/x", mounts) == "tmpfs"
    assert filesystem_of(f"{tmp_path}/my bucket/x", mounts) == "fuse.s3fs"      # \040 is a space
    assert filesystem_of(f"{tmp_path}/nfsx", mounts) == "ext4"
    assert filesystem_of("/x", str(tmp_path / "no-such-table")) is None


@pytest.mark.parametrize("storage", ["s3://bucket/study", "{tmp}/nfs/study", "{tmp}/my bucket/study"])
def test_cloud_and_network_storage_pass_on_several_nodes(spec, tmp_path, mounts, storage):
    check_storage_reaches_trials(spec, storage.format(tmp=tmp_path), [HEAD, WORKER], "auto", mounts_file=mounts)


def test_a_local_path_passes_where_every_trial_runs_on_the_driver_node(spec, tmp_path, mounts):
    check_storage_reaches_trials(spec, f"{tmp_path}/local", [HEAD], "auto", mounts_file=mounts)


@pytest.mark.parametrize("nodes, address, reason", [
    ([HEAD, WORKER], "auto", "the cluster has 2 alive nodes"),
    ([Node("c" * 56, "10.0.0.3", {"CPU": 0.5})], "auto", "one trial does not fit the cluster's only node"),
    ([HEAD], "ray://head:10001", "the driver is a Ray Client of ray://head:10001")])
def test_a_local_path_is_refused_where_trials_can_run_elsewhere(spec, tmp_path, mounts, nodes, address, reason):
    with pytest.raises(ConfigError) as refused:
        check_storage_reaches_trials(spec, f"{tmp_path}/local", nodes, address, mounts_file=mounts)
    message = str(refused.value)
    assert reason in message and "(ext4)" in message and "\n" not in message
    assert "storage_shared: true" in message and "--storage-shared" in message and "s3://" in message


def test_a_path_marked_shared_passes(spec, tmp_path, mounts):
    check_storage_reaches_trials(spec, f"{tmp_path}/local", [HEAD, WORKER], "auto", shared=True, mounts_file=mounts)
    marked = load_study(write_study(tmp_path, tmp_path, name="marked", seeds=[1], storage_shared=True))
    check_storage_reaches_trials(marked, f"{tmp_path}/local", [HEAD, WORKER], "auto", mounts_file=mounts)


def test_storage_shared_must_be_true_or_false(tmp_path):
    with pytest.raises(ConfigError, match="storage_shared: expected true or false, got 'yes'"):
        load_study(write_study(tmp_path, tmp_path, name="bad", seeds=[1], storage_shared="yes"))
