"""A miniature quickstart-layout dataset written to disk (VQAv2 Karpathy rows + per-image HDF5 features)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from vlpet.data.quickstart import FEATURE_DIR, FEAT_DIM, GRID, image_key

COLORS = ["red", "blue", "green", "yellow"]


def write_mini_quickstart(root: Path, n_images: int = 24, nan_features: bool = False, seed: int = 0,
                          nan_images: tuple[int, ...] = ()) -> Path:
    """Each image is one colour; questions ask for it, so the answer depends on the image only.
    ``nan_features`` poisons every image's features with NaN, ``nan_images`` only those images'."""
    rng = np.random.default_rng(seed)
    features = root / FEATURE_DIR
    features.mkdir(parents=True, exist_ok=True)
    rows = {"train": [], "test": []}
    for index in range(n_images):
        split = "train" if index < n_images * 3 // 4 else "test"
        color = COLORS[index % len(COLORS)]
        key = image_key(split, index)
        array = rng.normal(size=(GRID * GRID, FEAT_DIM)).astype(np.float32) * 0.1
        array[:, COLORS.index(color)] += 1.0
        if nan_features or index in nan_images:
            array[:] = np.nan
        with h5py.File(features / f"{key}.h5", "w") as handle:
            handle.create_group(key)["features"] = array.astype(np.float16)
        for q, question in enumerate(["what color is the shape?", "what is the color of the shape?"]):
            rows[split].append({"img_id": key, "question_id": index * 10 + q, "sent": question, "label": {color: 1},
                                "answer_type": "other",
                                "answers": [{"answer": color, "answer_id": i + 1} for i in range(10)]})
    (root / "vqa").mkdir(parents=True, exist_ok=True)
    (root / "vqa" / "karpathy_train.json").write_text(json.dumps(rows["train"]))
    (root / "vqa" / "karpathy_val.json").write_text(json.dumps(rows["test"]))
    # the held-out images serve as validation and as test split alike in this miniature
    (root / "vqa" / "karpathy_test.json").write_text(json.dumps(rows["test"]))
    return root
