"""Video-text tasks of the VALUE release (data_formats.md §1.6, §2): TVQA, How2QA, TVC, YC2C.

Annotations are ``video/ann/<task>/<task>_<split>.jsonl``, subtitles ``video/ann/<src>_subtitles.jsonl`` and
features ``video/vis_features/<src>/clip-vit/<vid_name>.npz``. Encoder texts follow P:src/video/*_data.py:
QA   ``"[Subs] <subtitles> [Q] <q> [TS] (<ts>) [Choices] a0: <x>. a1: <y>. ... tvqa: "`` → ``"a<answer_idx>"``;
TVC  ``"[Subs] <subtitles> [TS] (<ts>) tvc: "`` → one description (one example per description);
YC2C ``"[Subs] <subtitles> yc2c: "`` → one description. Test files (no answers/descriptions) give target None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlpet.data.example import VLExample, check_unique_ids
from vlpet.data.io import feature_key, read_jsonl, require_fields, split_names
from vlpet.errors import DataError


@dataclass(frozen=True)
class VideoTask:
    """A video task's loader: where its files are and how its text is built.

    Called as every task loader is, ``load(root, split, prompt)``: the examples of ``split`` (the file suffix:
    "train", "val_release", "test_public,test_release", ...) under ``root/video``.
    """

    name: str
    source: str  # subtitle/feature source: tv, how2 or yc2
    kind: str  # "qa" (multiple choice) or "caption"
    n_choices: int = 0
    uses_ts: bool = True

    def __call__(self, root: str | Path, split: str, prompt: str) -> list[VLExample]:
        ann_dir = Path(root) / "video" / "ann"
        subtitles = read_subtitles(ann_dir / f"{self.source}_subtitles.jsonl")
        build = _qa_examples if self.kind == "qa" else _caption_examples
        examples = []
        for name in split_names(split):
            path = ann_dir / self.name / f"{self.name}_{name}.jsonl"
            examples.extend(build(self, read_jsonl(path, f"{self.name} annotation"), subtitles, path, prompt))
        check_unique_ids(examples, ann_dir / self.name)
        return examples


def read_subtitles(path: str | Path) -> dict[str, str]:
    """vid_name → its subtitle lines stripped and joined by spaces (``{"vid_name", "sub": [{"text"}]}`` rows)."""
    path = Path(path)
    subtitles = {}
    for index, row in enumerate(read_jsonl(path, "subtitle")):
        require_fields(row, ("vid_name", "sub"), path, index)
        if not isinstance(row["sub"], list) or not all(isinstance(s, dict) and "text" in s for s in row["sub"]):
            raise DataError(f"{path}, entry {index}: 'sub' must be a list of {{'text', 'start', 'end'}} objects")
        subtitles[str(row["vid_name"])] = " ".join(str(s["text"]).strip() for s in row["sub"])
    return subtitles


def _subs(subtitles: dict[str, str], vid_name: str, path: Path, index: int) -> str:
    if vid_name not in subtitles:
        raise DataError(f"{path}, entry {index}: video {vid_name!r} has no entry in the subtitle file")
    return f"[Subs] {subtitles[vid_name]}"


def _qa_examples(spec: VideoTask, rows: list[dict], subtitles: dict[str, str], path: Path,
                 prompt: str) -> list[VLExample]:
    choice_keys = [f"a{i}" for i in range(spec.n_choices)]
    examples = []
    for index, row in enumerate(rows):
        require_fields(row, ("vid_name", "q", "qid", "ts", *choice_keys), path, index)
        vid = feature_key(row, "vid_name", path, index)
        choices = " ".join(f"{key}: {str(row[key]).strip('. ')}." for key in choice_keys)
        text = " ".join([_subs(subtitles, vid, path, index), f"[Q] {str(row['q']).strip()}", f"[TS] ({row['ts']})",
                         f"[Choices] {choices}"])
        target = f"a{row['answer_idx']}" if "answer_idx" in row else None  # test files have no answer
        references = {"type": str(row.get("show_name", spec.name)), **({"answer": target} if target else {})}
        examples.append(VLExample(spec.name, str(row["qid"]), f"{text} {prompt}", target, (vid,), spec.source,
                                  references))
    return examples


def _caption_examples(spec: VideoTask, rows: list[dict], subtitles: dict[str, str], path: Path,
                      prompt: str) -> list[VLExample]:
    examples = []
    for index, row in enumerate(rows):
        require_fields(row, ("vid_name", "clip_id", *(("ts",) if spec.uses_ts else ())), path, index)
        vid, clip = feature_key(row, "vid_name", path, index), str(row["clip_id"])
        parts = [_subs(subtitles, vid, path, index)] + ([f"[TS] ({row['ts']})"] if spec.uses_ts else [])
        source = f"{' '.join(parts)} {prompt}"
        if "descs" not in row:  # test file: one example per clip, nothing to score against
            examples.append(VLExample(spec.name, clip, source, None, (vid,), spec.source, {"clip_id": clip}))
            continue
        if not isinstance(row["descs"], list) or not all(
                isinstance(d, dict) and "desc" in d and "desc_id" in d for d in row["descs"]):
            raise DataError(f"{path}, entry {index}: 'descs' must be a list of {{'desc', 'desc_id', ...}} objects")
        descs = [str(d["desc"]) for d in row["descs"]]
        examples.extend(VLExample(spec.name, str(d["desc_id"]), source, str(d["desc"]), (vid,), spec.source,
                                  {"clip_id": clip, "desc": str(d["desc"]), "descs": descs}) for d in row["descs"])
    return examples


# TVQA: video/ann/tvqa/tvqa_<split>.jsonl (train, val, test_public, test_release); How2QA likewise
# (train_release, val_release, ...); TVC and YouCook2 captions give one example per description.
load_tvqa = VideoTask("tvqa", "tv", "qa", n_choices=5)
load_how2qa = VideoTask("how2qa", "how2", "qa", n_choices=4)
load_tvc = VideoTask("tvc", "tv", "caption")
load_yc2c = VideoTask("yc2c", "yc2", "caption", uses_ts=False)
