"""Whether a study's storage reaches every node its trials can run on (issue 19.1).

A study keeps one store: the driver writes ``study.json`` and reads the results, the trials write evaluations,
statuses and checkpoints. A node-local path on a cluster of several nodes would give each node its own partial
copy. So, once Ray is connected and before any trial starts, :func:`check_storage_reaches_trials` refuses a
study whose storage is a path on this node's own disk when its trials can run elsewhere:

* the cluster has more than one alive node (Ray's node table, read from the GCS: it answers at once);
* or one trial does not fit the only node (its trials would wait for nodes an autoscaler adds);
* or the driver is a Ray Client (``ray://``), not on the cluster at all.

Not caught: an autoscaling cluster that has only its head at the start and adds workers for trials that would
also fit the head (Ray 2.60's autoscaler v2 leaves no trace in the GCS that this check could read).

Storage that reaches every node: a cloud URI (``s3://``, ``gs://``, ...), a path on a network filesystem
(NFS, SMB/CIFS, Lustre, GPFS, CephFS, GlusterFS, BeeGFS or a FUSE mount such as s3fs, gcsfuse or sshfs, read
from ``/proc/self/mounts``) mounted at the same path on every node, or a path the user marks as shared
(``storage_shared: true`` in the study file, ``vlpet run --storage-shared``). A cluster launcher's
``file_mounts`` copy files to each node once: they bring code and data, never a shared store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vlpet.errors import ConfigError
from vlpet.study.spec import StudySpec
from vlpet.study.store import is_uri

MOUNTS = "/proc/self/mounts"
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "ceph", "glusterfs", "beegfs", "orangefs",
    "ocfs2", "gfs2", "afs", "pvfs2", "wekafs", "fuse.glusterfs", "fuse.ceph", "fuse.cephfs", "fuse.sshfs",
    "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.rclone", "fuse.goofys", "fuse.mountpoint-s3",
    "fuse.blobfuse2", "fuse.geesefs", "fuse.alluxio-fuse"})


@dataclass(frozen=True)
class Node:
    """An alive Ray node: its id, IP address and resources (``CPU``, ``GPU``, custom ones)."""

    node_id: str
    address: str
    resources: dict[str, float]


def alive_nodes() -> list[Node]:
    """The connected cluster's alive nodes, from the GCS's node table (no dashboard needed, no waiting)."""
    import ray

    return [Node(str(n["NodeID"]), str(n.get("NodeManagerAddress", "")), dict(n.get("Resources") or {}))
            for n in ray.nodes() if n.get("Alive")]


def filesystem_of(path: str, mounts_file: str = MOUNTS) -> str | None:
    """The filesystem type of the mount that holds ``path`` (its nearest existing ancestor), or None."""
    target = os.path.realpath(_existing_ancestor(os.path.abspath(os.path.expanduser(path))))
    best, kind = "", None
    try:
        with open(mounts_file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:                                            # not Linux: no mount table to read
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def is_network_filesystem(kind: str | None) -> bool:
    return kind in NETWORK_FILESYSTEMS


def trial_fits(spec: StudySpec, node: Node) -> bool:
    """Whether one trial's workers fit ``node``'s resources (all on it, as a one-node cluster would place them)."""
    res = spec.resources
    need = {"CPU": res.workers * res.cpus_per_worker, "GPU": res.workers * res.gpus_per_worker}
    return all(node.resources.get(key, 0.0) >= amount for key, amount in need.items() if amount > 0)


def check_storage_reaches_trials(spec: StudySpec, storage: str, nodes: list[Node], address: str | None,
                                 shared: bool = False, mounts_file: str = MOUNTS) -> None:
    """Refuse (ConfigError, one line) a node-local ``storage`` when the study's trials can run on another node
    than this driver's. ``shared``: the user marked the path as shared (``--storage-shared``)."""
    if is_uri(storage) or shared or spec.storage_shared:
        return
    kind = filesystem_of(storage, mounts_file)
    if is_network_filesystem(kind):
        return
    reason = _why_elsewhere(spec, nodes, address)
    if reason is None:
        return
    where = f" ({kind})" if kind else ""
    raise ConfigError(
        f"storage {storage} is on this node's own filesystem{where}, but {reason}, so each node would keep part of the "
        f"study: use a cloud URI (--storage s3://BUCKET/PATH), a network filesystem mounted at the same path on "
        f"every node (NFS, CephFS, Lustre, ...), or mark a directory every node shares with storage_shared: true "
        f"in the study file (or --storage-shared)")


def _why_elsewhere(spec: StudySpec, nodes: list[Node], address: str | None) -> str | None:
    """Why trials may run off this node (None: they all run where the driver is)."""
    if address and address.startswith("ray://"):
        return f"the driver is a Ray Client of {address} and its trials run on the cluster's nodes"
    if len(nodes) > 1:
        return f"the cluster has {len(nodes)} alive nodes and trials run on any of them"
    if nodes and not trial_fits(spec, nodes[0]):
        return ("one trial does not fit the cluster's only node (its resources), so trials would wait for "
                "nodes the cluster adds")
    return None


def _existing_ancestor(path: str) -> str:
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _unescape(field: str) -> str:
    """/proc/self/mounts writes space, tab, newline and backslash in octal (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
