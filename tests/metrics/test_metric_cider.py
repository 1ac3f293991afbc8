"""CIDEr-D through pycocoevalcap, with hand-derived values and properties."""

from __future__ import annotations

import shutil

import pytest

from vlpet.metrics import cider, cider_scores, resolve_tokenizer, simple_tokenize, tokenize_captions

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenization needs java")


def test_identical_two_word_captions_score_five():
    # Two images, refs "a b" and "c d", hypotheses identical to the refs. Every n-gram occurs in one of the
    # two reference sets, so idf = log(2) - log(1) for all of them and each tf-idf vector is a multiple of the
    # other: cosine 1 for unigrams and bigrams, no length penalty (same length). There are no 3- or 4-grams,
    # so those similarities are 0. Per image: 10 × mean(1, 1, 0, 0) = 5.0; the corpus mean is 5.0.
    corpus, per_id = cider_scores({0: "a b", 1: "c d"}, {0: ["a b"], 1: ["c d"]}, tokenizer="simple")
    assert corpus == pytest.approx(5.0) and per_id == pytest.approx({0: 5.0, 1: 5.0})


def test_disjoint_captions_score_zero():
    assert cider({0: "x y z", 1: "u v w"}, {0: ["a b c"], 1: ["d e f"]}, tokenizer="simple") == 0.0


def test_a_one_image_corpus_always_scores_zero():
    # idf = log(#images) - log(df) = log 1 - log 1 = 0 for every n-gram of the only image.
    assert cider({0: "a dog runs"}, {0: ["a dog runs"]}, tokenizer="simple") == 0.0


def test_better_hypotheses_rank_higher():
    refs = {0: ["a dog runs on the grass"], 1: ["a red bus on a street"], 2: ["two cats sleep on a bed"]}
    exact = dict(enumerate(["a dog runs on the grass", "a red bus on a street", "two cats sleep on a bed"]))
    close = dict(enumerate(["a dog runs on grass", "a red bus on the road", "two cats on a bed"]))
    wrong = dict(enumerate(["a bed", "the grass", "a street"]))
    scores = [cider(hyps, refs, tokenizer="simple") for hyps in (exact, close, wrong)]
    assert scores[0] > scores[1] > scores[2] >= 0.0


def test_readme_example_of_language_evaluation():
    gts = {0: ["am i a boy"], 1: ["is she a girl"]}
    assert cider({0: "i am a boy", 1: "she is a girl"}, gts, tokenizer="simple") == pytest.approx(10 / 3)


def test_simple_tokenizer():
    assert simple_tokenize("A Dog, running-fast.") == "a dog running fast"
    assert tokenize_captions({"k": ["Hi!", "OK"]}, "simple") == {"k": ["hi", "ok"]}
    assert resolve_tokenizer("simple") == "simple"
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        resolve_tokenizer("bpe")


@needs_java
def test_ptb_tokenizer_matches_simple_on_plain_text():
    captions = {0: ["A dog, running."], 1: ["Two cats sleep."]}
    assert tokenize_captions(captions, "ptb") == tokenize_captions(captions, "simple")
    assert resolve_tokenizer("auto") == "ptb"
    hyps, refs = {0: "A dog running.", 1: "two cats"}, {0: ["a dog running"], 1: ["Two cats sleep."]}
    assert cider(hyps, refs, tokenizer="ptb") == pytest.approx(cider(hyps, refs, tokenizer="simple"))


def test_missing_predictions_and_references_are_errors():
    with pytest.raises(ValueError, match="1 caption prediction"):
        cider({0: "a"}, {0: ["a"], 1: ["b"]}, tokenizer="simple")
    with pytest.raises(ValueError, match="no reference caption"):
        cider({0: "a", 1: "b"}, {0: ["a"], 1: []}, tokenizer="simple")
