"""Feature files named by data rows stay inside data_dir (issue 18.3): an ``img_id`` (or img0/img1, a caption's
filename, a video name) that is not a plain file name is refused with one line naming the annotation file, the
entry and the id, even when the file it points at exists outside; so are split names with separators."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.train.fixtures import write_mini_quickstart
from vlpet.cli import main
from vlpet.data.features import H5FeatureStore, NpzVideoStore
from vlpet.data.quickstart import FEATURE_DIR
from vlpet.data.registry import build_dataset
from vlpet.errors import DataError

HOSTILE_ID = "../../../outside/secret"


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory) -> Path:
    """Miniature quickstart data whose first training row's img_id climbs out of the feature directory to a
    real feature file."""
    base = tmp_path_factory.mktemp("escape")
    root = write_mini_quickstart(base / "a" / "b" / "data", n_images=8)
    secret = (root / FEATURE_DIR / HOSTILE_ID).resolve()
    assert not secret.is_relative_to((root / FEATURE_DIR).resolve())
    secret.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(f"{secret}.h5", "w") as handle:
        handle.create_group(HOSTILE_ID)["features"] = np.ones((49, 192), dtype=np.float32)
    train = root / "vqa" / "karpathy_train.json"
    rows = json.loads(train.read_text())
    rows[0]["img_id"] = HOSTILE_ID
    train.write_text(json.dumps(rows))
    return root


def test_the_loader_refuses_the_row_naming_file_entry_and_id(hostile_root):
    with pytest.raises(DataError) as refused:
        build_dataset("quickstart", hostile_root, "train")
    message = str(refused.value)
    assert str(hostile_root / "vqa" / "karpathy_train.json") in message and "entry 0" in message
    assert repr(HOSTILE_ID) in message and "outside data_dir" in message


def test_vlpet_train_exits_2_with_one_line(hostile_root, tmp_path, capsys):
    status = main(["train", "--set", "task=quickstart", "--set", f"data_dir={hostile_root}", "--set",
                   "backbone=tiny-bart", "--set", "visual_feat_dim=192", "--set", "max_steps=1",
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert "karpathy_train.json, entry 0: img_id '../../../outside/secret'" in err


@pytest.mark.parametrize("key", ["../x", "a/b", "a\\b", "..", ".", "", "x\x00y"])
def test_the_stores_refuse_keys_that_leave_their_directory(key, tmp_path):
    for store in (H5FeatureStore(tmp_path), NpzVideoStore(tmp_path)):
        with pytest.raises(DataError, match="not a plain file name"):
            store.path(key)


def test_a_split_name_with_a_separator_is_refused(hostile_root):
    with pytest.raises(DataError, match="split name '../../etc/passwd' is not a plain file name"):
        build_dataset("quickstart", hostile_root, "../../etc/passwd")
