"""The old module path `spacy_globalpointer.answer_scorer`, kept for
compatibility: its contents are now in `spacy_globalpointer.extractor.scorer`.
It re-exports the old names for one release and will then be removed; import
from the new place."""
from .extractor.scorer import (
    ANSWER_SCORES,
    DEFAULT_ANSWERS_KEY,
    PUNCTUATION,
    answer_exact_match,
    answer_f1,
    answer_score,
    longest_common_run,
    make_answer_scorer,
    normalize_answer,
    segment_answer,
)

__all__ = [
    "ANSWER_SCORES",
    "DEFAULT_ANSWERS_KEY",
    "PUNCTUATION",
    "answer_exact_match",
    "answer_f1",
    "answer_score",
    "longest_common_run",
    "make_answer_scorer",
    "normalize_answer",
    "segment_answer",
]
