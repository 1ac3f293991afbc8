"""The offline quickstart task: easy-vqa written in the exact VQAv2/GQA layouts, the stand-in extractor,
the word tokenizer and the pretrained tiny backbone loaded through from_pretrained."""

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from vlpet.data import TASKS
from vlpet.data.quickstart import (FEATURE_DIR, extract_features, prepare_quickstart, quickstart_backbone,
                                   quickstart_tokenizer)
from vlpet.models.backbones import load_backbone


@pytest.fixture(scope="module")
def root():
    return prepare_quickstart()


def test_extractor_is_a_fixed_patch_grid():
    pixels = np.zeros((56, 56, 3), dtype=np.uint8)
    pixels[:8, 8:16] = (255, 0, 0)  # patch (row 0, column 1) is pure red
    features = extract_features(Image.fromarray(pixels).resize((64, 64), resample=0))
    assert features.shape == (49, 192)
    red_patch = features[1].reshape(8, 8, 3)
    assert np.allclose(red_patch[2:6, 2:6, 0], 1.0) and np.allclose(red_patch[2:6, 2:6, 1], -1.0)
    assert np.allclose(features[48], -1.0, atol=0.05)  # a far patch stays black


def test_prepared_files_follow_the_vqa_and_gqa_layouts(root):
    train = TASKS["quickstart"].read(root, "karpathy_train")
    val = TASKS["quickstart"].read(root, "karpathy_val")
    test = TASKS["quickstart"].read(root, "karpathy_test")
    # balanced subsets of easy-vqa's 38,575 training questions (split by image into train and val) and 9,673 test
    assert (len(train), len(val), len(test)) == (15_436, 3_611, 4_488)
    assert train[0].source_text.startswith("vqa: ") and train[0].target_text
    assert len(train[0].references["answers"]) == 10
    gqa = TASKS["gqa"].read(root, "valid")
    assert len(gqa) == len(val) and gqa[0].source_text.startswith("gpa: ")
    key = train[0].image_ids[0]
    with h5py.File(root / FEATURE_DIR / f"{key}.h5") as handle:
        assert handle[f"{key}/features"].shape == (49, 192)
        assert handle[f"{key}/features"].dtype == np.float16
    assert (root / "VG" / FEATURE_DIR.parts[1] / FEATURE_DIR.parts[2] / f"{key}.h5").is_file()
    answers = json.loads((root / "vqa" / "trainval_label2ans.json").read_text())
    assert {e.target_text for e in val} <= set(answers)


def test_the_three_splits_are_disjoint_in_questions_and_images(root):
    splits = {name: TASKS["quickstart"].read(root, TASKS["quickstart"].splits[name]) for name in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not {e.example_id for e in splits[a]} & {e.example_id for e in splits[b]}, (a, b)
        assert not {e.image_ids for e in splits[a]} & {e.image_ids for e in splits[b]}, (a, b)
    assert all(e.target_text for e in splits["test"])  # the quickstart's test split is labelled


def test_no_question_text_predicts_its_answer(root):
    from collections import Counter, defaultdict

    answers_by_text = defaultdict(Counter)
    for example in TASKS["quickstart"].read(root, "karpathy_train"):
        answers_by_text[example.source_text][example.target_text] += 1
    for text, counts in answers_by_text.items():
        assert len(counts) > 1 and len(set(counts.values())) == 1, (text, counts)


def test_preparation_is_idempotent(root):
    marker = (root / ".complete").stat().st_mtime
    assert prepare_quickstart() == root
    assert (root / ".complete").stat().st_mtime == marker


def test_tokenizer_covers_the_task_and_ends_with_the_visual_tokens():
    tokenizer = quickstart_tokenizer("tiny-bart")
    ids = tokenizer("vqa: what color is the shape?")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded.replace(" :", ":") == "vqa: what color is the shape?"
    assert tokenizer.convert_tokens_to_ids("<vis_extra_id_0>") == len(tokenizer) - 1 == 1199


def test_pretrained_backbone_round_trips_through_from_pretrained(monkeypatch):
    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    path = quickstart_backbone("tiny-t5")
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    model = load_backbone(str(path))
    assert model.config.vlpet_pretraining["steps"] == 20
    assert model.get_input_embeddings().num_embeddings == 1200  # already VL-extended: not resized again


def test_quickstart_backbone_resolves_to_the_checkpoint_and_its_tokenizer(root, monkeypatch):
    from transformers import AutoTokenizer

    from vlpet.data import resolve_backbone
    from vlpet.data.quickstart import CORPUS_PROMPTS, quickstart_corpus
    from vlpet.models.backbones import extend_tokenizer

    assert CORPUS_PROMPTS == (TASKS["vqa"].prompt, TASKS["gqa"].prompt)
    monkeypatch.setenv("VLPET_QUICKSTART_PRETRAIN_STEPS", "20")
    path = resolve_backbone("quickstart:tiny-bart")
    assert path == str(quickstart_backbone("tiny-bart")) and resolve_backbone("quickstart:tiny-bart", False) == "tiny-bart"
    saved, built = AutoTokenizer.from_pretrained(path), quickstart_tokenizer("tiny-bart")
    assert extend_tokenizer(saved) == len(built) == 1200  # the saved tokenizer already holds the VL tokens
    sentences = quickstart_corpus(root)[::500] + ["nlvr: true false <vis_extra_id_3>"]
    assert saved(sentences)["input_ids"] == built(sentences)["input_ids"]
    assert saved.batch_decode(built(sentences)["input_ids"], skip_special_tokens=True) == built.batch_decode(
        built(sentences)["input_ids"], skip_special_tokens=True)
