"""A word-level Hugging Face tokenizer for small closed-vocabulary tasks (the quickstart).

Its ids follow the VL convention of vlpet_spec §1.1: the family's special tokens at the ids the backbone config
expects, the task's words, unused filler rows, then ``<extra_id_99..0>`` and ``<vis_extra_id_99..0>`` as the
last 200 rows, so the visual object-order embedding E_word[V-1-o] reads the ``<vis_extra_id_o>`` rows.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from vlpet.vocabulary import vl_special_tokens

SPECIALS = {
    "bart": {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "mask_token": "<mask>"},
    "t5": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
}
SPECIAL_ORDER = {"bart": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "t5": ["<pad>", "</s>", "<unk>"]}


def words_of(sentences: Iterable[str]) -> list[str]:
    """Lower-cased words and punctuation marks, most frequent first (ties alphabetical)."""
    counts = Counter(token for s in sentences for token in re.findall(r"\w+|[^\w\s]", s.lower()))
    return sorted(counts, key=lambda w: (-counts[w], w))


def build_word_tokenizer(sentences: Iterable[str], family: str, vocab_size: int,
                         extra_words: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """A tokenizer with exactly ``vocab_size`` ids over the words of ``sentences`` plus ``extra_words`` (e.g.
    a task's choice words, so that choice scoring can address them)."""
    extras = vl_special_tokens()
    words = [w for w in words_of(sentences) if w not in SPECIAL_ORDER[family]]
    words += [w for w in extra_words if w not in words]
    fill = vocab_size - len(SPECIAL_ORDER[family]) - len(words) - len(extras)
    if fill < 0:
        raise ValueError(f"{len(words)} words do not fit a vocabulary of {vocab_size} with the VL tokens")
    tokens = SPECIAL_ORDER[family] + words + [f"<unused_{i}>" for i in range(fill)] + extras
    raw = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    raw.post_processor = _post_processor(family, tokens)
    raw.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    specials = SPECIALS[family]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, **specials)
    tokenizer.add_special_tokens({"extra_special_tokens": extras}, replace_extra_special_tokens=False)
    return tokenizer


def _post_processor(family: str, tokens: list[str]):
    ids = {t: i for i, t in enumerate(tokens)}
    if family == "bart":
        return processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    return processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", ids["</s>"])])
