"""The offline quickstart task, built from the ``easy-vqa`` package (questions about rendered shapes).

``prepare_quickstart(cache)`` writes easy-vqa's (image, question, answer) triples, balanced so that no question
text predicts its answer (:func:`balanced_indices`), into the exact layouts of
the paper's data (data_formats.md §1): ``vqa/karpathy_{train,val,test}.json`` (VQAv2 Karpathy rows, raw answers
included), ``GQA/{train,valid,testdev}.json`` and one HDF5 feature file per image under
``COCO/standin_features/data_patch8x8_att/<img_id>.h5`` (``VG/`` points at the same files for GQA; the folder
name says these are not CLIP features). The quickstart
therefore goes through the same loaders as a user's VQAv2/GQA files: it is the task record ``quickstart`` of
``vlpet.data.registry``, scored as VQA, which also brings a word-level tokenizer (``quickstart_tokenizer``) and
the tiny backbones pretrained on its text that ``quickstart:<name>`` names (``quickstart_backbone``).

Three disjoint splits, as the paper's protocol needs (model selection on validation, numbers on test):
easy-vqa's own test set is the test split; the validation split is carved out of its training set by image
(every ``VAL_EVERY``-th image), so no image or question is in two splits. Each split is balanced on its own.

Stand-in feature extractor (fixed, documented, deterministic): the 64×64 RGB image is resized to 56×56
(bilinear), cut into a 7×7 grid of 8×8 patches in row-major order, and each patch's pixels, scaled to
[-1, 1], are flattened channel-last into a 192-d vector: features (49, 192), stored as float16, the same
(N, F) grid layout that CLIP RN101 gives as (49, 2048).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from vlpet.data.features import CachedStore, H5FeatureStore
from vlpet.data.nlvr import ANSWERS as NLVR_ANSWERS
from vlpet.locations import data_cache_root

QUICKSTART_VERSION = "6"
VAL_EVERY = 5  # easy-vqa training images whose id is a multiple of this form the validation split
FEAT_DIM = 192
GRID = 7
PATCH = 8
FEATURE_DIR = Path("COCO") / "standin_features" / "data_patch8x8_att"  # not CLIP: see the module docstring


def cache_root() -> Path:
    """``$VLPET_CACHE`` or ``~/.cache/vlpet`` (one definition, in vlpet.locations, which keeps studies out of it)."""
    return data_cache_root()


def extract_features(image) -> np.ndarray:
    """The stand-in extractor: PIL image → float32 (49, 192) patch vectors (see the module docstring)."""
    pixels = np.asarray(image.convert("RGB").resize((GRID * PATCH, GRID * PATCH), resample=2), dtype=np.float32)
    pixels = pixels / 127.5 - 1.0
    patches = pixels.reshape(GRID, PATCH, GRID, PATCH, 3).transpose(0, 2, 1, 3, 4)
    return patches.reshape(GRID * GRID, PATCH * PATCH * 3)


def _write_features(image_paths: dict[int, str], split: str, directory: Path) -> None:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    for image_id, path in sorted(image_paths.items()):
        key = image_key(split, image_id)
        with Image.open(path) as image, h5py.File(directory / f"{key}.h5", "w") as handle:
            handle.create_group(key)["features"] = extract_features(image).astype(np.float16)


def image_key(split: str, image_id: int) -> str:
    return f"easyvqa_{split}_{image_id:05d}"


def balanced_indices(questions: list[str], answers: list[str]) -> list[int]:
    """Indices of a subset in which every question text has each of its answers equally often.

    easy-vqa's text alone predicts many answers ("is there not a red shape?" is mostly "yes"); balancing the
    answers per question text removes that prior, so the questions need the image. Texts seen with a single
    answer are dropped. Deterministic: the first k occurrences of each (text, answer) are kept.
    """
    by_text: dict[str, dict[str, list[int]]] = {}
    for index, (question, answer) in enumerate(zip(questions, answers)):
        by_text.setdefault(question, {}).setdefault(answer, []).append(index)
    keep = []
    for groups in by_text.values():
        if len(groups) > 1:
            k = min(len(indices) for indices in groups.values())
            keep.extend(i for indices in groups.values() for i in indices[:k])
    return sorted(keep)


def _vqa_rows(questions, answers, image_ids, source: str, keep=None) -> list[dict]:
    """VQAv2 rows of the balanced subset of easy-vqa's ``source`` split (``train``/``test``) whose image ids
    ``keep`` accepts (all when None)."""
    chosen = [i for i in range(len(questions)) if keep is None or keep(image_ids[i])]
    rows = []
    for local in balanced_indices([questions[i] for i in chosen], [answers[i] for i in chosen]):
        index = chosen[local]
        question, answer, image_id = questions[index], answers[index], image_ids[index]
        rows.append({
            "answer_type": "yes/no" if answer in ("yes", "no") else "other",
            "img_id": image_key(source, image_id),
            "label": {answer: 1},
            "question_id": (0 if source == "train" else 1_000_000) + index,
            "question_type": " ".join(question.split()[:3]),
            "sent": question,
            "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)],
        })
    return rows


def _gqa_rows(vqa_rows: list[dict]) -> list[dict]:
    return [{"img_id": r["img_id"], "label": {a: 1.0 for a in r["label"]}, "question_id": str(r["question_id"]),
             "sent": r["sent"]} for r in vqa_rows]


def _dump(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def prepare_quickstart(cache: str | Path | None = None) -> Path:
    """Write the quickstart dataset once (idempotent, file-locked, deterministic); returns its root."""
    from filelock import FileLock

    root = Path(cache or cache_root()) / "quickstart" / f"data-v{QUICKSTART_VERSION}"
    marker = root / ".complete"
    if marker.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if marker.exists():
            return root
        _build(root)
        marker.write_text(QUICKSTART_VERSION)
    return root


def _build(root: Path) -> None:
    import easy_vqa

    answers = easy_vqa.get_answers()
    sources = {"train": (easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths()),
               "test": (easy_vqa.get_test_questions(), easy_vqa.get_test_image_paths())}
    for source, (_, image_paths) in sources.items():
        _write_features(image_paths, source, root / FEATURE_DIR)
    splits = {  # split → (easy-vqa source, which of its images, VQA file, GQA file)
        "train": ("train", lambda image: image % VAL_EVERY != 0, "karpathy_train", "train"),
        "val": ("train", lambda image: image % VAL_EVERY == 0, "karpathy_val", "valid"),
        "test": ("test", None, "karpathy_test", "testdev"),
    }
    for source, keep, vqa_name, gqa_name in splits.values():
        questions, split_answers, image_ids = sources[source][0]
        rows = _vqa_rows(questions, split_answers, image_ids, source, keep)
        _dump(root / "vqa" / f"{vqa_name}.json", rows)
        _dump(root / "GQA" / f"{gqa_name}.json", _gqa_rows(rows))
    vocab = {answer: index for index, answer in enumerate(answers)}
    for folder in ("vqa", "GQA"):
        _dump(root / folder / "trainval_ans2label.json", vocab)
        _dump(root / folder / "trainval_label2ans.json", list(answers))
    vg = root / "VG"
    vg.mkdir(exist_ok=True)
    link = vg / FEATURE_DIR.parts[1]
    if not link.exists():
        os.symlink(os.path.join("..", *FEATURE_DIR.parts[:2]), link)


def quickstart_sentences(root: Path) -> list[str]:
    """The task's text: every training question followed by its answer (no image information), so that the
    answer words are seen in pretraining just as a real backbone has seen "yes" and "blue" before."""
    rows = json.loads((root / "vqa" / "karpathy_train.json").read_text(encoding="utf-8"))
    return [f"{row['sent']} {max(row['label'], key=row['label'].get)}" for row in rows]


def quickstart_stores(root: str | Path, **_: object) -> dict[str, CachedStore]:
    """The quickstart's one feature store (the stand-in features, kept in memory once read)."""
    return {"COCO": CachedStore(H5FeatureStore(Path(root) / FEATURE_DIR, FEAT_DIM, GRID * GRID))}


PRETRAIN_STEPS = 1500
CORPUS_PROMPTS = ("vqa: ", "gpa: ")  # the VQA and GQA records' prompts, fixed here: they key the cached backbones


def quickstart_backbone(name: str, cache: str | Path | None = None, steps: int | None = None) -> Path:
    """Path of ``name`` (``tiny-bart``/``tiny-t5``) pretrained on the quickstart's text; built once, cached.

    This is what the backbone ``quickstart:<name>`` resolves to. ``$VLPET_QUICKSTART_PRETRAIN_STEPS``
    overrides the pretraining budget (the cache key includes it).
    """
    from vlpet.models.backbones import BACKBONES
    from vlpet.models.pretrain import pretrained_backbone

    if name not in BACKBONES:
        raise ValueError(f"quickstart backbone {name!r}: known names are {', '.join(BACKBONES)}")
    steps = steps or int(os.environ.get("VLPET_QUICKSTART_PRETRAIN_STEPS", PRETRAIN_STEPS))
    data_root = prepare_quickstart(cache)
    out = data_root.parent / "backbones" / f"{name}-s{steps}-v{QUICKSTART_VERSION}"
    return pretrained_backbone(name, out, lambda: quickstart_tokenizer(name, cache),
                               lambda: quickstart_corpus(data_root), steps)


def quickstart_corpus(data_root: Path) -> list[str]:
    """The pretraining text: the task's sentences with the VQA and GQA prompts in front."""
    sentences = quickstart_sentences(data_root)
    vqa, gqa = CORPUS_PROMPTS
    return [vqa + s for s in sentences] + [gqa + s for s in sentences[:1000]]


def quickstart_tokenizer(name: str, cache: str | Path | None = None):
    """The word-level tokenizer of the quickstart task for the known architecture ``name`` (deterministic).
    It also holds NLVR2's answer words, so that the choice scoring of that task can address them."""
    from vlpet.data.word_tokenizer import build_word_tokenizer
    from vlpet.models.backbones import BACKBONES

    spec = BACKBONES[name]
    return build_word_tokenizer(quickstart_corpus(prepare_quickstart(cache)), spec.family, spec.vl_vocab_size,
                                extra_words=NLVR_ANSWERS)
