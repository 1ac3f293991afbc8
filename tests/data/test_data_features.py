"""Feature stores: the per-image HDF5 layout and the per-video npz layout, with their DataErrors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from vlpet.data import H5FeatureStore, NpzVideoStore, resize_frames
from vlpet.errors import DataError


def _write(path, img_id, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_group(img_id)["features"] = array


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_h5_reads_fp16_and_fp32_as_float32(tmp_path, dtype):
    array = np.random.default_rng(0).standard_normal((49, 2048)).astype(dtype)
    _write(tmp_path / "COCO_val2014_000000000042.h5", "COCO_val2014_000000000042", array)
    feats = H5FeatureStore(tmp_path, feat_dim=2048, n_tokens=49).load("COCO_val2014_000000000042")
    assert feats.dtype == np.float32 and feats.shape == (49, 2048)
    np.testing.assert_array_equal(feats, array.astype(np.float32))


def test_h5_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"feature file .*2375429\.h5 does not exist"):
        H5FeatureStore(tmp_path).load("2375429")


def test_h5_missing_key_names_file_and_key(tmp_path):
    _write(tmp_path / "2375429.h5", "other_id", np.zeros((49, 2048), "float16"))
    with pytest.raises(DataError, match=r"2375429\.h5 has no dataset '2375429/features'.*other_id"):
        H5FeatureStore(tmp_path).load("2375429")


@pytest.mark.parametrize("shape", [(36, 2048), (49, 512), (7, 7, 2048)])
def test_h5_wrong_shape_is_reported(tmp_path, shape):
    _write(tmp_path / "img.h5", "img", np.zeros(shape, "float32"))
    with pytest.raises(DataError, match=r"img\.h5 'img/features' has shape"):
        H5FeatureStore(tmp_path, feat_dim=2048, n_tokens=49).load("img")


def test_h5_integer_features_are_rejected(tmp_path):
    _write(tmp_path / "img.h5", "img", np.zeros((49, 2048), "int32"))
    with pytest.raises(DataError, match="dtype int32"):
        H5FeatureStore(tmp_path).load("img")


def test_h5_unreadable_file(tmp_path):
    (tmp_path / "img.h5").write_text("not hdf5")
    with pytest.raises(DataError, match=r"img\.h5 is not a readable HDF5 file"):
        H5FeatureStore(tmp_path).load("img")


def test_resize_pads_with_zeros_and_max_pools():
    feats = np.arange(12, dtype=np.float32).reshape(6, 2)
    padded = resize_frames(feats, 8)
    assert padded.shape == (8, 2) and not padded[6:].any()
    np.testing.assert_array_equal(padded[:6], feats)
    # 6 frames → 3: adaptive max pooling takes the max of frames (0,1), (2,3), (4,5).
    np.testing.assert_array_equal(resize_frames(feats, 3), [[2, 3], [6, 7], [10, 11]])
    long = np.random.default_rng(1).standard_normal((100, 4)).astype(np.float32)
    expected = torch.nn.functional.adaptive_max_pool1d(torch.from_numpy(long.T.copy())[None], 64)[0].T.numpy()
    np.testing.assert_array_equal(resize_frames(long, 64), expected)


def test_npz_store_resizes_to_64_frames(tmp_path):
    np.savez(tmp_path / "vid.npz", features=np.ones((37, 512), "float16"))
    feats = NpzVideoStore(tmp_path).load("vid")
    assert feats.shape == (64, 512) and feats.dtype == np.float32
    assert feats[:37].all() and not feats[37:].any()


def test_npz_errors_name_the_file(tmp_path):
    store = NpzVideoStore(tmp_path)
    with pytest.raises(DataError, match=r"vid\.npz does not exist"):
        store.load("vid")
    np.savez(tmp_path / "vid.npz", feats=np.ones((3, 512), "float16"))
    with pytest.raises(DataError, match=r"vid\.npz has no array 'features'"):
        store.load("vid")
    np.savez(tmp_path / "vid.npz", features=np.ones((3, 768), "float16"))
    with pytest.raises(DataError, match=r"vid\.npz 'features' has shape \(3, 768\), expected \(N>0, 512\)"):
        store.load("vid")
