"""VQAv2 in the VL-T5 Karpathy re-split (data_formats.md §1.2): ``vqa/karpathy_{train,val,test}.json``.

Each row ``{"img_id", "sent" (or "question"), "question_id", "label": {answer: soft score}, ...}`` becomes
``"vqa: " + question`` → the highest-scoring answer. The ten raw answers the official accuracy needs come from
the row's optional ``answers`` or from the official ``v2_mscoco_{train,val}2014_annotations.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vlpet.data.example import VLExample, check_unique_ids
from vlpet.data.io import feature_key, read_json, read_json_list, require_fields, split_names
from vlpet.errors import DataError

OFFICIAL_ANNOTATION_FILES = ("v2_mscoco_train2014_annotations.json", "v2_mscoco_val2014_annotations.json")


def load_answer_vocab(ans2label_path: str | Path, label2ans_path: str | Path | None = None) -> dict[str, int]:
    """Read ``trainval_ans2label.json`` ({answer: index}) and check it against ``trainval_label2ans.json``."""
    ans2label = read_json(ans2label_path, "answer vocabulary (ans2label)")
    if not isinstance(ans2label, dict) or not all(isinstance(v, int) for v in ans2label.values()):
        raise DataError(f"{ans2label_path} must map answer strings to integer labels")
    if label2ans_path is not None:
        label2ans = read_json(label2ans_path, "answer vocabulary (label2ans)")
        if not isinstance(label2ans, list) or len(label2ans) != len(ans2label):
            raise DataError(f"{label2ans_path} must be a list of {len(ans2label)} answers, like {ans2label_path}")
        for answer, index in ans2label.items():
            if not 0 <= index < len(label2ans) or label2ans[index] != answer:
                raise DataError(f"{label2ans_path} and {ans2label_path} disagree on answer {answer!r} (label {index})")
    return ans2label


def read_official_annotations(paths: Sequence[str | Path]) -> dict[int, dict]:
    """question_id → {"answers": [10 raw answers], "question_type", "answer_type"} from official VQA files."""
    by_id: dict[int, dict] = {}
    for path in paths:
        content = read_json(path, "official VQA annotation")
        if not isinstance(content, dict) or not isinstance(content.get("annotations"), list):
            raise DataError(f"official VQA annotation file {path} must hold {{'annotations': [...]}}")
        for index, row in enumerate(content["annotations"]):
            require_fields(row, ("question_id", "answers"), Path(path), index)
            answers = [entry["answer"] for entry in row["answers"] if isinstance(entry, dict) and "answer" in entry]
            if not answers or len(answers) != len(row["answers"]):
                raise DataError(f"{path}, entry {index}: 'answers' must be a list of {{'answer': ...}} objects")
            by_id[int(row["question_id"])] = {
                "answers": answers,
                "question_type": row.get("question_type"),
                "answer_type": row.get("answer_type"),
            }
    return by_id


def _label_choices(label: Mapping[str, float], path: Path, index: int) -> tuple[tuple[str, float], ...]:
    if not isinstance(label, dict) or not all(isinstance(s, (int, float)) for s in label.values()):
        raise DataError(f"{path}, entry {index}: 'label' must map answers to scores, got {label!r}")
    choices = tuple((answer, float(score)) for answer, score in label.items() if score > 0)
    return choices or (("", 0.0),)  # VL-PET trains on an empty answer with weight 0 when no answer scores


def _raw_answers(row: dict, qid: int, official: Mapping[int, dict] | None, path: Path, index: int) -> dict:
    if isinstance(row.get("answers"), list):
        return {"answers": [a["answer"] if isinstance(a, dict) else str(a) for a in row["answers"]]}
    if official is None:
        return {}
    if qid not in official:
        raise DataError(f"{path}, entry {index}: question_id {qid} is not in the official VQA annotation files")
    return dict(official[qid])


def vqa_examples(path: str | Path, prompt: str, official: Mapping[int, dict] | None = None) -> list[VLExample]:
    """Examples of one Karpathy split file; ``official`` (see read_official_annotations) adds raw answers."""
    return _examples(read_json_list(path, "VQA split"), Path(path), official, prompt)


def _examples(rows: list[dict], path: Path, official: Mapping[int, dict] | None, prompt: str) -> list[VLExample]:
    examples = []
    for index, row in enumerate(rows):
        require_fields(row, ("img_id", "question_id"), path, index)
        question = row.get("sent", row.get("question"))
        if not isinstance(question, str):
            raise DataError(f"{path}, entry {index}: missing question text ('sent' or 'question')")
        references = {k: row[k] for k in ("question_type", "answer_type", "is_topk_optimal") if k in row}
        choices: tuple[tuple[str, float], ...] = ()
        if "label" in row:
            choices = _label_choices(row["label"], path, index)
            references["label"] = {a: float(s) for a, s in row["label"].items()}
        references.update(_raw_answers(row, int(row["question_id"]), official, path, index))
        target = max(choices, key=lambda choice: choice[1])[0] if choices else None
        examples.append(VLExample("vqa", str(row["question_id"]), f"{prompt}{question}", target,
                                  (feature_key(row, "img_id", path, index),), "COCO", references, choices))
    check_unique_ids(examples, path)
    return examples


def load_vqa(root: str | Path, split: str, prompt: str) -> list[VLExample]:
    """VQA examples of ``split`` ("karpathy_train", "karpathy_val,karpathy_test", ...) under ``root/vqa``.

    The official annotation files are read (as VL-PET does) unless every row carries its own ``answers``;
    the answer vocabulary files are checked for consistency when present.
    """
    vqa_dir = Path(root) / "vqa"
    ans2label, label2ans = vqa_dir / "trainval_ans2label.json", vqa_dir / "trainval_label2ans.json"
    if ans2label.exists():
        load_answer_vocab(ans2label, label2ans if label2ans.exists() else None)
    files = {vqa_dir / f"{name}.json": None for name in split_names(split)}
    rows = {path: read_json_list(path, "VQA split") for path in files}
    official = None
    if not all(isinstance(row.get("answers"), list) for file_rows in rows.values() for row in file_rows):
        official = read_official_annotations([vqa_dir / name for name in OFFICIAL_ANNOTATION_FILES])
    examples = [example for path, file_rows in rows.items() for example in _examples(file_rows, path, official, prompt)]
    check_unique_ids(examples, vqa_dir)
    return examples
