"""VQA accuracy: official normalisation and leave-one-out scoring, checked by hand; VL-PET's variant."""

from __future__ import annotations

import pytest

from vlpet.metrics import normalize_answer, process_punctuation, vqa_accuracy


@pytest.mark.parametrize("matches, expected", [
    # k of 10 annotators gave the answer. Leaving out one of those k leaves k-1 matches, leaving out any of
    # the other 10-k leaves k; each subset scores min(1, matches/3), and the 10 subsets are averaged.
    (0, 0.0),
    (1, 0.3),  # (1·0 + 9·1/3) / 10 = 3/10
    (2, 0.6),  # (2·1/3 + 8·2/3) / 10 = (2/3 + 16/3) / 10 = 6/10
    (3, 0.9),  # (3·2/3 + 7·1) / 10 = (2 + 7) / 10
    (4, 1.0),  # (4·1 + 6·1) / 10
    (10, 1.0),
])
def test_leave_one_out_over_ten_annotators(matches, expected):
    answers = ["net"] * matches + ["mesh"] * (10 - matches)
    assert vqa_accuracy("net", answers) == pytest.approx(expected)


@pytest.mark.parametrize("text, normalised", [
    ("Two", "2"),
    ("a dog.", "dog"),
    ("The Dog", "dog"),
    ("none", "0"),
    ("dont", "don't"),
    ("yes!", "yes"),
    ("1,000", "1000"),  # digit,digit: every mark is deleted rather than replaced by a space
    ("3.5", "3.5"),  # a period before a digit is kept
    ("black/white", "black white"),  # a mark with no space next to it becomes a space
    ("black / white", "black white"),  # next to a space it is deleted
    ("  left\tside\n", "left side"),
])
def test_official_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_period_strip_keeps_the_official_32_limit():
    assert process_punctuation("." * 40) == "." * 8


def test_normalisation_only_when_annotators_disagree():
    assert vqa_accuracy("Two", ["2"] * 9 + ["two"]) == 1.0  # differ: both sides normalised, all 10 are "2"
    assert vqa_accuracy("two", ["2"] * 10) == 0.0  # identical answers: nothing is normalised
    assert vqa_accuracy("Yes", ["yes"] * 10) == 0.0
    assert vqa_accuracy(" yes\n", ["yes"] * 10) == 1.0  # newlines/tabs and outer spaces are always stripped
    assert vqa_accuracy("a dog.", ["dog"] * 5 + ["puppy"] * 5) == 1.0


def test_vlpet_variant_always_normalises_the_prediction():
    assert vqa_accuracy("two", ["2"] * 10, scoring="vlpet") == 1.0
    assert vqa_accuracy("Yes", ["yes"] * 10, scoring="vlpet") == 1.0
    # GT answers only get punctuation processing: "Two" stays "Two", so "two" → "2" matches nothing but "2".
    assert vqa_accuracy("two", ["Two"] * 5 + ["2"] * 5, scoring="vlpet") == 1.0
    assert vqa_accuracy("the dog", ["the dog"] * 5 + ["cat"] * 5, scoring="vlpet") == 0.0
    assert vqa_accuracy("the dog", ["the dog"] * 5 + ["cat"] * 5, scoring="official") == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="scoring must be one of"):
        vqa_accuracy("a", ["a"], scoring="topk")
    with pytest.raises(ValueError, match="at least one"):
        vqa_accuracy("a", [])
