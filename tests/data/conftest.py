"""Tiny datasets written in the exact on-disk formats of data_formats.md §1 (the fixture recipe of §1.7)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

COCO_TRAIN = "COCO_train2014_000000000009"
COCO_VAL, COCO_TEST = "COCO_val2014_000000000042", "COCO_val2014_000000000077"


def write_h5(directory: Path, img_id: str, array: np.ndarray) -> Path:
    """One feature file, written as VL-Adapter's extractor does: grp = f.create_group(id); grp['features']=..."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{img_id}.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group(img_id)["features"] = array
    return path


def write_json(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _grid(seed: int, dtype: str = "float16", shape=(49, 2048)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _official(qid: int, answers: list[str], answer_type: str = "other") -> dict:
    return {"question_id": qid, "image_id": 1, "question_type": "what", "answer_type": answer_type,
            "multiple_choice_answer": answers[0],
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)]}


def _write_vqa(root: Path) -> None:
    vqa = root / "vqa"
    write_json(vqa / "karpathy_train.json", [
        {"answer_type": "other", "img_id": COCO_TRAIN, "label": {"net": 1, "mesh": 0.3}, "question_id": 9000,
         "question_type": "what is this", "sent": "What is this photo taken looking through?"},
        {"answer_type": "number", "img_id": COCO_TRAIN, "label": {"2": 0.6, "3": 0.9}, "question_id": 9001,
         "question_type": "how many", "sent": "How many dogs?"},
    ])
    write_json(vqa / "karpathy_test.json", [
        {"answer_type": "yes/no", "img_id": COCO_VAL, "label": {"yes": 1}, "question_id": 42000,
         "question_type": "is the", "sent": "Is the sky blue?"},
    ])
    write_json(vqa / "v2_mscoco_train2014_annotations.json", {"annotations": [
        _official(9000, ["net"] * 8 + ["netting", "mesh"]),
        _official(9001, ["3"] * 3 + ["2"] * 2 + ["4"] * 5, "number"),
    ]})
    write_json(vqa / "v2_mscoco_val2014_annotations.json", {"annotations": [_official(42000, ["yes"] * 10, "yes/no")]})
    answers = ["net", "mesh", "2", "3", "yes"]
    write_json(vqa / "trainval_ans2label.json", {a: i for i, a in enumerate(answers)})
    write_json(vqa / "trainval_label2ans.json", answers)


def _write_gqa(root: Path) -> None:
    gqa = root / "GQA"
    write_json(gqa / "train.json", [{"img_id": "2375429", "label": {"pipe": 1.0}, "question_id": "07333408",
                                     "sent": "What is on the white wall?"}])
    write_json(gqa / "valid.json", [{"img_id": "2375429", "label": {"white": 1.0}, "question_id": "07333409",
                                     "sent": "What color is the wall?"}])
    write_json(gqa / "testdev.json", [{"img_id": "n161313", "label": {"no": 1.0}, "question_id": "201307251",
                                       "sent": "Is it red?"}])
    write_json(gqa / "trainval_ans2label.json", {"pipe": 0, "no": 1})
    write_json(gqa / "trainval_label2ans.json", ["pipe", "no"])


def _write_nlvr(root: Path) -> None:
    rows = [{"identifier": f"train-10171-{k}-0", "img0": f"train-10171-{k}-img0", "img1": f"train-10171-{k}-img1",
             "label": k % 2, "sent": "An image shows one leather pencil case.", "uid": f"nlvr2_train_{k}"}
            for k in range(2)]
    write_json(root / "nlvr" / "train.json", rows)
    write_json(root / "nlvr" / "test.json", rows)  # the same images: the fixture has features for these only


def _write_captions(root: Path) -> None:
    def image(split: str, img_id: str, captions: list[str]) -> dict:
        return {"split": split, "filename": f"{img_id}.jpg", "filepath": "x", "cocoid": 1, "imgid": 0,
                "sentids": list(range(len(captions))), "sentences": [{"raw": c, "tokens": c.split()} for c in captions]}

    write_json(root / "COCO" / "dataset_coco.json", {"images": [
        image("train", COCO_TRAIN, ["A dog runs. ", "A brown dog."]),
        image("restval", COCO_VAL, ["Two cats sleep."]),
        image("test", COCO_TEST, ["A red bus.", "A bus on a street."]),
    ]})


def _write_video(root: Path) -> None:
    ann = root / "video" / "ann"
    for source, vids in {"tv": ["s01e01_seg01"], "how2": ["how2vid"], "yc2": ["yc2vid"]}.items():
        write_jsonl(ann / f"{source}_subtitles.jsonl", [
            {"vid_name": vid, "sub": [{"text": " Hello there. ", "start": 0.0, "end": 1.5},
                                      {"text": "Bye.", "start": 1.5, "end": 3.0}]} for vid in vids])
    choices = {f"a{i}": f"choice {i}." for i in range(5)}
    write_jsonl(ann / "tvqa" / "tvqa_train.jsonl", [{**choices, "answer_idx": 2, "q": " Who waves? ", "qid": 7,
                                                     "show_name": "Friends", "ts": "20.16-25.12",
                                                     "vid_name": "s01e01_seg01"}])
    write_jsonl(ann / "tvqa" / "tvqa_test_public.jsonl", [{**choices, "q": "Why?", "qid": 8, "show_name": "Friends",
                                                           "ts": "1.0-2.0", "vid_name": "s01e01_seg01"}])
    write_jsonl(ann / "how2qa" / "how2qa_train_release.jsonl", [
        {**{f"a{i}": f"c{i}" for i in range(4)}, "answer_idx": 0, "q": "What?", "qid": "h1", "ts": "0-3",
         "vid_name": "how2vid"}])
    descs = [{"desc": "A man waves.", "desc_id": 11, "type": "v", "from_retrieval": False},
             {"desc": "He says hello.", "desc_id": 12, "type": "v", "from_retrieval": False}]
    write_jsonl(ann / "tvc" / "tvc_train_release.jsonl", [{"vid_name": "s01e01_seg01", "duration": 61.0,
                                                           "ts": [20.16, 25.12], "descs": descs, "clip_id": 5}])
    write_jsonl(ann / "tvc" / "tvc_test_release.jsonl", [{"vid_name": "s01e01_seg01", "duration": 61.0,
                                                          "ts": [1.0, 2.0], "clip_id": 6}])
    write_jsonl(ann / "yc2c" / "yc2c_val_release.jsonl", [{"vid_name": "yc2vid", "duration": 10.0, "clip_id": 9,
                                                           "descs": [{"desc": "Cut the onion.", "desc_id": 91}]}])


def _write_features(root: Path) -> None:
    coco = root / "COCO" / "clip_features" / "data_clip_RN101_att"
    for seed, img_id in enumerate([COCO_TRAIN, COCO_VAL, COCO_TEST]):
        write_h5(coco, img_id, _grid(seed))
    write_h5(root / "VG" / "clip_features" / "data_clip_RN101_att", "2375429", _grid(5, "float32"))
    write_h5(root / "GQA" / "clip_features" / "data_clip_RN101_att", "n161313", _grid(6))
    for k in range(2):
        for side in (0, 1):
            write_h5(root / "nlvr" / "clip_features" / "data_clip_RN101_att", f"train-10171-{k}-img{side}",
                     _grid(10 + 2 * k + side))
    for source, vid, frames in (("tv", "s01e01_seg01", 37), ("how2", "how2vid", 100), ("yc2", "yc2vid", 64)):
        directory = root / "video" / "vis_features" / source / "clip-vit"
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / f"{vid}.npz", features=_grid(20, shape=(frames, 512)))


@pytest.fixture
def vl_root(tmp_path: Path) -> Path:
    """A complete tiny ``datasets/`` directory with every task's annotation and feature files."""
    root = tmp_path / "datasets"
    for write in (_write_vqa, _write_gqa, _write_nlvr, _write_captions, _write_video, _write_features):
        write(root)
    return root


@pytest.fixture
def vl_files() -> SimpleNamespace:
    """The writers and image ids above, for tests that add or break files."""
    return SimpleNamespace(write_h5=write_h5, write_json=write_json, write_jsonl=write_jsonl,
                           coco_train=COCO_TRAIN, coco_val=COCO_VAL, coco_test=COCO_TEST)
