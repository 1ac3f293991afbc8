"""Corpus CIDEr-D through pycocoevalcap (the coco-caption "CIDEr"), with PTB or a Java-free tokenization.

VL-PET scores captions with ``language_evaluation.CocoEvaluator``: PTB tokenization (Java) then
pycocoevalcap's scorers (data_formats.md §2-3). ``tokenizer="ptb"`` does exactly that tokenization;
``"simple"`` (lower-case, punctuation replaced by spaces, split on whitespace) needs no Java and differs
from PTB only on clitics and rare symbols ("man's" → "man s" instead of "man 's"); ``"auto"`` uses PTB
when a ``java`` executable is on PATH and "simple" otherwise.
"""

from __future__ import annotations

import re
import shutil
import string
from collections.abc import Hashable, Mapping, Sequence

from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

TOKENIZERS = ("auto", "ptb", "simple")
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")


def resolve_tokenizer(tokenizer: str = "auto") -> str:
    """"auto" → "ptb" when Java is on PATH, else "simple"; "ptb"/"simple" are returned unchanged."""
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")
    if tokenizer == "auto":
        return "ptb" if shutil.which("java") else "simple"
    return tokenizer


def simple_tokenize(text: str) -> str:
    """Lower-case, replace ASCII punctuation by spaces, and re-join the whitespace-separated tokens."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def tokenize_captions(captions: Mapping[Hashable, Sequence[str]], tokenizer: str = "auto") -> dict:
    """Tokenize every caption: {id: [caption, ...]} → {id: [space-joined tokens, ...]} (same ids and order)."""
    method = resolve_tokenizer(tokenizer)
    if method == "simple":
        return {key: [simple_tokenize(text) for text in texts] for key, texts in captions.items()}
    if shutil.which("java") is None:
        raise RuntimeError("PTB tokenization needs a 'java' executable on PATH; use tokenizer='simple' instead")
    tokenized = PTBTokenizer().tokenize({key: [{"caption": text} for text in texts]
                                         for key, texts in captions.items() if texts})
    return {key: tokenized.get(key, []) for key in captions}


def cider_scores(predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]],
                 tokenizer: str = "auto") -> tuple[float, dict]:
    """Corpus CIDEr-D and the per-id scores (pycocoevalcap scale: ×100 gives the numbers papers print).

    ``references``: {id: [reference captions]} (at least one each); ``predictions``: {id: caption}, one per
    reference id (extra ids are ignored). The idf comes from this corpus's references, so a 1-id corpus
    always scores 0.
    """
    if not references:
        raise ValueError("cider needs at least one id with references")
    missing = [key for key in references if key not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} caption prediction(s) missing, e.g. {missing[:3]}")
    empty = [key for key, refs in references.items() if not refs]
    if empty:
        raise ValueError(f"{len(empty)} id(s) have no reference caption, e.g. {empty[:3]}")
    both = {("ref", key): list(refs) for key, refs in references.items()}
    both.update({("hyp", key): [str(predictions[key])] for key in references})
    tokenized = tokenize_captions(both, tokenizer)
    gts = {key: tokenized[("ref", key)] for key in references}
    res = {key: tokenized[("hyp", key)] for key in references}
    corpus, per_id = Cider().compute_score(gts, res)
    return float(corpus), {key: float(score) for key, score in zip(gts, per_id)}


def cider(predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]],
          tokenizer: str = "auto") -> float:
    """Corpus CIDEr-D of ``predictions`` ({id: caption}) against ``references`` ({id: [captions]})."""
    return cider_scores(predictions, references, tokenizer)[0]
