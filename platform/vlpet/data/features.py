"""Visual feature stores: per-image CLIP HDF5 files and per-video CLIP npz files (data_formats.md §1.1, §1.6).

Both return float32 numpy arrays [N, F] (N grid cells or frames, F feature dimensions) and raise DataError,
naming the file, when a file is missing, lacks its key, or holds an array of the wrong shape or dtype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import h5py
import numpy as np
import torch
from torch.nn import functional as F

from vlpet.data.io import plain_name
from vlpet.errors import DataError

# Feature width of each CLIP grid-feature directory data_clip_<type>_att (P:src/multitask.py L670-676).
CLIP_FEATURE_DIMS: dict[str, int] = {"RN50": 2048, "RN101": 2048, "RN50x4": 2560, "ViT": 768}


class FeatureStore(Protocol):
    """Maps a feature key (image id or video name) to a float32 array [N, F]."""

    def path(self, key: str) -> Path: ...

    def load(self, key: str) -> np.ndarray: ...


def file_in(directory: Path, key: str, suffix: str) -> Path:
    """``directory/<key><suffix>``; DataError when ``key`` is not a plain file name (it would leave the directory)."""
    if not plain_name(key):
        raise DataError(f"feature key {key!r} is not a plain file name: its file would be read from outside "
                        f"{directory}")
    return directory / f"{key}{suffix}"


def _check_array(array: np.ndarray, where: str, n_rows: int | None, n_cols: int | None) -> np.ndarray:
    """Validate a 2-D float array [N, F] against optional expected sizes; return it as float32."""
    if array.ndim != 2:
        raise DataError(f"{where} has shape {array.shape}, expected 2 dimensions (N, F)")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{where} has dtype {array.dtype}, expected float16 or float32")
    rows, cols = array.shape
    if (n_rows is not None and rows != n_rows) or (n_cols is not None and cols != n_cols) or rows == 0:
        expected = (n_rows if n_rows is not None else "N>0", n_cols if n_cols is not None else "F")
        raise DataError(f"{where} has shape {array.shape}, expected ({expected[0]}, {expected[1]})")
    return array.astype(np.float32, copy=False)


class H5FeatureStore:
    """One HDF5 file per image: ``<directory>/<img_id>.h5`` holding dataset ``<img_id>/features`` [N, F].

    ``n_tokens``/``feat_dim``: the expected N (49 for the paper's 7×7 RN101 grid) and F (2048); None skips
    the check. fp16 and fp32 files are both accepted; ``load`` returns float32 [N, F].
    """

    def __init__(self, directory: str | Path, feat_dim: int | None = None, n_tokens: int | None = None) -> None:
        self.directory = Path(directory)
        self.feat_dim = feat_dim
        self.n_tokens = n_tokens

    def path(self, key: str) -> Path:
        return file_in(self.directory, key, ".h5")

    def load(self, key: str) -> np.ndarray:
        path = self.path(key)
        if not path.is_file():
            raise DataError(f"feature file {path} does not exist (one <img_id>.h5 per image is expected)")
        try:
            with h5py.File(path, "r") as handle:
                name = f"{key}/features"
                if name not in handle:
                    raise DataError(f"feature file {path} has no dataset '{name}' (top-level keys: {sorted(handle)})")
                dataset = handle[name]
                if not isinstance(dataset, h5py.Dataset):
                    raise DataError(f"feature file {path}: '{name}' is a group, expected a dataset")
                array = dataset[...]
        except OSError as error:
            raise DataError(f"feature file {path} is not a readable HDF5 file: {error}") from error
        return _check_array(array, f"feature file {path} '{key}/features'", self.n_tokens, self.feat_dim)


def resize_frames(feats: np.ndarray, n_frames: int) -> np.ndarray:
    """[T, F] → [n_frames, F]: zero-pad when T < n_frames, adaptive max pooling over time when T > n_frames.

    Same as VL-PET's ``resize`` (P:src/video/tvqa_data.py L34-47), which uses ``F.adaptive_max_pool1d``.
    """
    length, dim = feats.shape
    if length < n_frames:
        return np.concatenate([feats, np.zeros((n_frames - length, dim), dtype=feats.dtype)], axis=0)
    if length > n_frames:
        pooled = F.adaptive_max_pool1d(torch.from_numpy(np.ascontiguousarray(feats.T)).unsqueeze(0), n_frames)
        return pooled.squeeze(0).T.contiguous().numpy()
    return feats


class NpzVideoStore:
    """One npz file per video: ``<directory>/<vid_name>.npz`` with the key ``features`` [T, F] (F = 512).

    ``load`` returns float32 [n_frames, F] resized as VL-PET does (n_frames = 64 in the paper's video runs).
    """

    def __init__(self, directory: str | Path, feat_dim: int | None = 512, n_frames: int = 64) -> None:
        self.directory = Path(directory)
        self.feat_dim = feat_dim
        self.n_frames = n_frames

    def path(self, key: str) -> Path:
        return file_in(self.directory, key, ".npz")

    def load(self, key: str) -> np.ndarray:
        path = self.path(key)
        if not path.is_file():
            raise DataError(f"video feature file {path} does not exist (one <vid_name>.npz per video is expected)")
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(f"video feature file {path} is not a readable npz file: {error}") from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"video feature file {path} is a bare .npy array, expected an npz archive with 'features'")
        with archive:
            if "features" not in archive.files:
                raise DataError(f"video feature file {path} has no array 'features' (arrays: {archive.files})")
            array = archive["features"]
        feats = _check_array(array, f"video feature file {path} 'features'", None, self.feat_dim)
        return resize_frames(feats, self.n_frames)


class CachedStore:
    """Keeps loaded feature arrays in memory (for small datasets whose images repeat across questions: each
    file is read once)."""

    def __init__(self, store: FeatureStore) -> None:
        self.store, self.cache = store, {}

    def path(self, key: str) -> Path:
        return self.store.path(key)

    def load(self, key: str) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = self.store.load(key)
        return self.cache[key]


def feature_stores(root: str | Path, feature_type: str = "RN101", n_tokens: int | None = None,
                   n_frames: int = 64) -> dict[str, FeatureStore]:
    """Every feature store of the VL-PET layout under ``root``, keyed by ``VLExample.feature_source``.

    Image stores read ``<X>/clip_features/data_clip_<feature_type>_att/<img_id>.h5`` with F checked against
    the CLIP variant (2048 for RN101) and N against ``n_tokens`` when given; video stores read
    ``video/vis_features/<src>/clip-vit/<vid_name>.npz`` (F = 512), resized to ``n_frames``.
    """
    if feature_type not in CLIP_FEATURE_DIMS:
        raise DataError(f"unknown CLIP feature type {feature_type!r}; known: {sorted(CLIP_FEATURE_DIMS)}")
    root = Path(root)
    dim = CLIP_FEATURE_DIMS[feature_type]
    stores: dict[str, FeatureStore] = {
        source: H5FeatureStore(root / source / "clip_features" / f"data_clip_{feature_type}_att", dim, n_tokens)
        for source in ("COCO", "VG", "GQA", "nlvr")
    }
    for source in ("tv", "how2", "yc2"):
        stores[source] = NpzVideoStore(root / "video" / "vis_features" / source / "clip-vit", 512, n_frames)
    return stores
