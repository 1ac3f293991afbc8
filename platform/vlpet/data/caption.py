"""COCO Karpathy captions (data_formats.md §1.5): ``COCO/dataset_coco.json``.

The encoder text is the prompt alone ("caption: "). Training (split train, which includes restval) makes one
example per caption; val and test make one example per image. ``references["captions"]`` always holds all of
the image's raw captions (the CIDEr references); val/test targets are the first caption.
"""

from __future__ import annotations

from pathlib import Path

from vlpet.data.example import VLExample, check_unique_ids
from vlpet.data.io import feature_key, read_json, require_fields, split_names
from vlpet.errors import DataError

SPLIT_RENAME = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def _image_id(image: dict, path: Path, index: int) -> str:
    """Filename without extension; VL-PET picks train2014/val2014 by substring, so one of them must occur."""
    img_id = feature_key({"filename": str(image["filename"]).rsplit(".", 1)[0]}, "filename", path, index)
    if "train" not in img_id and "val" not in img_id:
        raise DataError(f"{path}, image {index}: id {img_id!r} contains neither 'train' nor 'val' (COCO_*2014_*)")
    return img_id


def _captions(image: dict, path: Path, index: int) -> list[str]:
    sentences = image["sentences"]
    if not isinstance(sentences, list) or not sentences or not all("raw" in s for s in sentences):
        raise DataError(f"{path}, image {index}: 'sentences' must be a non-empty list of {{'raw': ...}}")
    return [str(sentence["raw"]).strip() for sentence in sentences]


def caption_examples(path: str | Path, split: str, prompt: str) -> list[VLExample]:
    """Examples of Karpathy split ``split`` ("train", "val" or "test"; "karpathy_test" also works)."""
    path = Path(path)
    wanted = split.split("_")[-1]
    if wanted not in ("train", "val", "test"):
        raise DataError(f"unknown caption split {split!r} for {path}; use train, val or test")
    content = read_json(path, "COCO Karpathy caption")
    if not isinstance(content, dict) or not isinstance(content.get("images"), list):
        raise DataError(f"COCO Karpathy caption file {path} must hold {{'images': [...]}}")
    examples = []
    for index, image in enumerate(content["images"]):
        require_fields(image, ("split", "filename", "sentences"), path, index)
        if SPLIT_RENAME.get(image["split"]) != wanted:
            continue
        img_id, captions = _image_id(image, path, index), _captions(image, path, index)
        references = {"captions": captions}
        if wanted == "train":
            examples.extend(VLExample("caption", f"{img_id}#{k}", prompt, caption, (img_id,), "COCO", references)
                            for k, caption in enumerate(captions))
        else:
            examples.append(VLExample("caption", img_id, prompt, captions[0], (img_id,), "COCO", references))
    check_unique_ids(examples, path)
    return examples


def load_caption(root: str | Path, split: str, prompt: str) -> list[VLExample]:
    """COCO caption examples of ``split`` ("train", "val", "test" or "karpathy_*") from ``root/COCO``."""
    path = Path(root) / "COCO" / "dataset_coco.json"
    return [example for name in split_names(split) for example in caption_examples(path, name, prompt)]
