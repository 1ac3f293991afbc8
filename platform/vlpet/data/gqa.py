"""GQA in the LXMERT/VL-T5 layout (data_formats.md §1.3): ``GQA/{train,valid,testdev,submit}.json``.

Each row ``{"img_id", "label": {answer: 1.0}, "question_id" (a string), "sent"}`` becomes
``"gpa: " + question`` → the answer (the prompt keeps the paper's typo, see the task record in
``vlpet.data.registry``).
Features of train/valid images live under ``VG/``, those of testdev/submit under ``GQA/``.
"""

from __future__ import annotations

from pathlib import Path

from vlpet.data.example import VLExample, check_unique_ids
from vlpet.data.io import feature_key, read_json_list, require_fields, split_names
from vlpet.data.vqa import load_answer_vocab
from vlpet.errors import DataError

# Which feature directory a split's images are in (P:src/gqa_clip_data.py L109-123).
GQA_FEATURE_SOURCE = {"train": "VG", "valid": "VG", "testdev": "GQA", "submit": "GQA"}


def gqa_examples(path: str | Path, feature_source: str, prompt: str) -> list[VLExample]:
    """Examples of one GQA split file whose images are in the store named ``feature_source``."""
    path = Path(path)
    examples = []
    for index, row in enumerate(read_json_list(path, "GQA split")):
        require_fields(row, ("img_id", "question_id", "sent"), path, index)
        references, choices, target = {}, (), None
        if "label" in row:
            label = row["label"]
            if not isinstance(label, dict) or not all(isinstance(s, (int, float)) for s in label.values()):
                raise DataError(f"{path}, entry {index}: 'label' must map answers to scores, got {label!r}")
            references["label"] = {a: float(s) for a, s in label.items()}
            choices = tuple((a, float(s)) for a, s in label.items() if s > 0) or (("", 0.0),)
            target = max(choices, key=lambda choice: choice[1])[0]
        examples.append(VLExample("gqa", str(row["question_id"]), f"{prompt}{row['sent']}", target,
                                  (feature_key(row, "img_id", path, index),), feature_source, references, choices))
    check_unique_ids(examples, path)
    return examples


def load_gqa(root: str | Path, split: str, prompt: str) -> list[VLExample]:
    """GQA examples of ``split`` ("train,valid", "testdev", ...) under ``root/GQA``.

    The answer vocabulary (``trainval_ans2label.json``/``trainval_label2ans.json``) is checked when present.
    """
    gqa_dir = Path(root) / "GQA"
    ans2label, label2ans = gqa_dir / "trainval_ans2label.json", gqa_dir / "trainval_label2ans.json"
    if ans2label.exists():
        load_answer_vocab(ans2label, label2ans if label2ans.exists() else None)
    examples = []
    for name in split_names(split):
        if name not in GQA_FEATURE_SOURCE:
            raise DataError(f"unknown GQA split {name!r} under {gqa_dir}; known: {sorted(GQA_FEATURE_SOURCE)}")
        examples.extend(gqa_examples(gqa_dir / f"{name}.json", GQA_FEATURE_SOURCE[name], prompt))
    check_unique_ids(examples, gqa_dir)
    return examples
