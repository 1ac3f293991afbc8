"""Task metrics of the VL-PET setting (data_formats.md §2): VQA, GQA, NLVR2, CIDEr, video QA and captions."""

from vlpet.metrics.accuracy import gqa_exact_match, multiple_choice_accuracy, nlvr2_scores, parse_true_false
from vlpet.metrics.cider import cider, cider_scores, resolve_tokenizer, simple_tokenize, tokenize_captions
from vlpet.metrics.tasks import EVALUATORS, METRIC_NAMES, evaluate_task
from vlpet.metrics.vqa import normalize_answer, process_digit_article, process_punctuation, vqa_accuracy

__all__ = [
    "EVALUATORS", "METRIC_NAMES",
    "cider", "cider_scores", "evaluate_task", "gqa_exact_match", "multiple_choice_accuracy", "nlvr2_scores",
    "normalize_answer", "parse_true_false", "process_digit_article", "process_punctuation", "resolve_tokenizer",
    "simple_tokenize", "tokenize_captions", "vqa_accuracy",
]
