"""VLDataset (features [I, N, F], target sampling, early checks) and collate (tokenised batches)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from vlpet.data import VLDataset, VLExample, build_dataset, collate, feature_stores
from vlpet.errors import DataError

WORDS = "vqa what is this photo taken looking through ? how many dogs net 3 nlvr true false tvqa a0 a1 a2".split()


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer built offline: <s> text </s>, like BART's encode()."""
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


@pytest.mark.parametrize("task, split, shape", [
    ("vqa", "train", (1, 49, 2048)), ("gqa", "train", (1, 49, 2048)), ("gqa", "val", (1, 49, 2048)),
    ("nlvr", "train", (2, 49, 2048)), ("caption", "test", (1, 49, 2048)), ("tvqa", "train", (1, 64, 512)),
    ("how2qa", "train", (1, 64, 512)), ("tvc", "train", (1, 64, 512)), ("yc2c", "val", (1, 64, 512)),
])
def test_items_carry_float32_features(vl_root, task, split, shape):
    dataset = build_dataset(task, vl_root, split)
    item = dataset[0]
    assert item.visual_feats.dtype == torch.float32 and tuple(item.visual_feats.shape) == shape
    assert item.example.task == task


def test_nlvr_images_keep_their_order(vl_root):
    item = build_dataset("nlvr", vl_root, "train")[0]
    store = feature_stores(vl_root)["nlvr"]
    np.testing.assert_array_equal(item.visual_feats[1].numpy(), store.load("train-10171-0-img1"))


def test_missing_feature_file_fails_at_construction(vl_root):
    (vl_root / "COCO" / "clip_features" / "data_clip_RN101_att" / "COCO_val2014_000000000077.h5").unlink()
    with pytest.raises(DataError, match=r"1 feature file\(s\) do not exist.*COCO_val2014_000000000077\.h5"):
        build_dataset("caption", vl_root, "test")


def test_first_file_is_fully_checked_at_construction(vl_root, vl_files):
    directory = vl_root / "COCO" / "clip_features" / "data_clip_RN101_att"
    vl_files.write_h5(directory, vl_files.coco_test, np.zeros((49, 768), "float16"))
    with pytest.raises(DataError, match=r"has shape \(49, 768\), expected \(N>0, 2048\)"):
        build_dataset("caption", vl_root, "test")
    with pytest.raises(DataError, match="needs feature store 'COCO'"):
        VLDataset(build_dataset("caption", vl_root, "test", validate="none").examples, {})


def test_target_sampling_follows_scores_and_is_seeded():
    example = VLExample("vqa", "1", "vqa: q", "b", ("img",), "COCO", {}, (("a", 0.3), ("b", 0.9)))
    fixed = VLDataset([example], {}, validate="none")
    assert fixed.target(0) == ("b", 0.9)
    sampled = VLDataset([example], {}, sample_targets=True, seed=3, validate="none")
    draws = []
    for epoch in range(400):
        sampled.set_epoch(epoch)
        draws.append(sampled.target(0))
    counts = Counter(answer for answer, _ in draws)
    assert 0.15 < counts["a"] / 400 < 0.35  # expected 0.3 / 1.2 = 0.25
    assert dict(draws) == {"a": 0.3, "b": 0.9}  # the loss weight is the sampled answer's score
    sampled.set_epoch(7)
    assert sampled.target(0) == draws[7]


def test_collate_shapes_padding_and_labels(vl_root, tokenizer):
    dataset = build_dataset("vqa", vl_root, "train")
    batch = collate([dataset[0], dataset[1]], tokenizer)
    assert batch["visual_feats"].shape == (2, 1, 49, 2048) and batch["task"] == "vqa"
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    text = tokenizer.decode(batch["input_ids"][1][batch["attention_mask"][1] == 1])
    assert text == "<s> vqa <unk> <unk> many dogs ? </s>"  # ":" and capitalised "How" are not in the vocabulary
    # targets "net" and "3": [<s>, word, </s>], no padding needed
    assert batch["labels"].tolist() == [[1, WORDS.index("net") + 4, 2], [1, WORDS.index("3") + 4, 2]]
    assert batch["loss_weights"].tolist() == pytest.approx([1.0, 0.9])
    assert [e.example_id for e in batch["examples"]] == ["9000", "9001"]


def test_collate_truncates_and_pads_labels_with_minus_100(vl_root, tokenizer):
    dataset = build_dataset("tvqa", vl_root, "train")
    long_target = VLExample("tvqa", "x", "tvqa", "a0 a1 a2 a0 a1", ("s01e01_seg01",), "tv")
    items = [dataset[0], VLDataset([long_target], dataset.stores)[0]]
    batch = collate(items, tokenizer, max_source_len=5, max_target_len=4)
    assert batch["input_ids"].shape[1] == 5
    a0, a1, a2 = tokenizer.convert_tokens_to_ids(["a0", "a1", "a2"])
    assert batch["labels"][1].tolist() == [1, a0, a1, 2]  # "a0 a1 a2 a0 a1" truncated to 4 tokens, </s> kept
    assert batch["labels"][0].tolist() == [1, a2, 2, -100]  # "a2", padded with -100


def test_collate_without_targets_omits_labels(vl_root, tokenizer):
    batch = collate([build_dataset("tvqa", vl_root, "test_public")[0]], tokenizer)
    assert "labels" not in batch and batch["visual_feats"].shape == (1, 1, 64, 512)


def test_collate_refuses_mixed_tasks_without_lengths(vl_root, tokenizer):
    items = [build_dataset("vqa", vl_root, "train")[0], build_dataset("gqa", vl_root, "train")[0]]
    with pytest.raises(ValueError, match="mixes tasks"):
        collate(items, tokenizer)
