"""VQA accuracy: the official answer normalisation and leave-one-out soft accuracy, and VL-PET's variant.

Ported from GT-Vision-Lab/VQA ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` (data_formats.md §2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's",
    "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas",
    "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't",
    "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
    "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")
# "(?!<=\d)" is the official code's typo for a look-behind; as written it only keeps periods before digits.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# The official call passes re.UNICODE (= 32) as the positional ``count``: at most 32 periods are removed.
_PERIOD_COUNT = 32

SCORINGS = ("official", "vlpet")


def process_punctuation(text: str) -> str:
    """Delete a mark next to a space (or anywhere when the text has digit,digit), else replace it by a space;
    then delete periods not followed by a digit."""
    out = text
    strip_all = _COMMA_STRIP.search(text) is not None
    for mark in PUNCTUATION:
        if strip_all or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Lower-case, number words → digits, drop articles, restore contractions ("dont" → "don't")."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


def normalize_answer(text: str) -> str:
    """The full official normalisation of one answer (whitespace, punctuation, digits, articles)."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def _leave_one_out(prediction: str, answers: Sequence[str]) -> float:
    """Mean over the n subsets that leave one annotator out of min(1, #matches / 3)."""
    matches = [answer == prediction for answer in answers]
    total = sum(matches)
    return sum(min(1.0, (total - left_out) / 3.0) for left_out in matches) / len(answers)


def vqa_accuracy(prediction: str, gt_answers: Sequence[str], scoring: str = "official") -> float:
    """Accuracy in [0, 1] of one predicted answer against the (usually 10) annotators' answers.

    ``scoring="official"``: strip newlines/tabs; only if the answers are not all identical, normalise both
    the answers and the prediction; then leave-one-out min(1, #matches/3). ``scoring="vlpet"``: VL-PET's
    ``evaluate_raw`` — always normalise the prediction, and only punctuation-process the answers, only when
    they differ. An answer given by 2 of 10 annotators scores (2·1/3 + 8·2/3)/10 = 0.6.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    if not gt_answers:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    prediction = prediction.replace("\n", " ").replace("\t", " ").strip()
    if scoring == "vlpet":
        answers = list(gt_answers)
        if len(set(answers)) > 1:
            answers = [process_punctuation(answer) for answer in answers]
        return _leave_one_out(process_digit_article(process_punctuation(prediction)), answers)
    answers = [answer.replace("\n", " ").replace("\t", " ").strip() for answer in gt_answers]
    if len(set(answers)) > 1:
        answers = [process_digit_article(process_punctuation(answer)) for answer in answers]
        prediction = process_digit_article(process_punctuation(prediction))
    return _leave_one_out(prediction, answers)
