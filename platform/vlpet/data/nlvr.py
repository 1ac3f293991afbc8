"""NLVR2 in the LXMERT layout (data_formats.md §1.4): ``nlvr/{train,valid,test}.json``, two images per example.

Each row ``{"identifier", "img0", "img1", "label": 0|1, "sent", "uid"}`` becomes ``"nlvr: " + sentence`` →
"true"/"false", with the image ids (img0, img1) in that order.
"""

from __future__ import annotations

from pathlib import Path

from vlpet.data.example import VLExample, check_unique_ids
from vlpet.data.io import feature_key, read_json_list, require_fields, split_names
from vlpet.errors import DataError

ANSWERS = ("true", "false")  # the targets of a true and a false statement: the task's choice words


def nlvr_examples(path: str | Path, prompt: str) -> list[VLExample]:
    """Examples of one NLVR2 split file; references hold ``identifier`` and, when labelled, ``label`` (bool)."""
    path = Path(path)
    examples = []
    for index, row in enumerate(read_json_list(path, "NLVR2 split")):
        require_fields(row, ("identifier", "img0", "img1", "sent", "uid"), path, index)
        references: dict = {"identifier": str(row["identifier"])}
        target = None
        if "label" in row:
            if row["label"] not in (0, 1):
                raise DataError(f"{path}, entry {index}: 'label' must be 0 or 1, got {row['label']!r}")
            references["label"] = bool(row["label"])
            target = ANSWERS[0] if row["label"] == 1 else ANSWERS[1]
        images = (feature_key(row, "img0", path, index), feature_key(row, "img1", path, index))
        examples.append(VLExample("nlvr", str(row["uid"]), f"{prompt}{row['sent']}", target, images, "nlvr",
                                  references))
    check_unique_ids(examples, path)
    return examples


def load_nlvr(root: str | Path, split: str, prompt: str) -> list[VLExample]:
    """NLVR2 examples of ``split`` ("train", "valid", "test") under ``root/nlvr``."""
    nlvr_dir = Path(root) / "nlvr"
    examples = [example for name in split_names(split) for example in nlvr_examples(nlvr_dir / f"{name}.json", prompt)]
    check_unique_ids(examples, nlvr_dir)
    return examples
