"""The old module path `spacy_globalpointer.answer_losses`, kept for
compatibility: its contents are now in `spacy_globalpointer.extractor.losses`.
It re-exports the old names for one release and will then be removed; import
from the new place."""
from .extractor.losses import (
    NO_GOLD,
    AnswerLossT,
    AnswerTargets,
    expected_f1_loss,
    make_answer_targets,
    make_expected_f1_loss,
    make_multilabel_answer_loss,
    make_span_softmax_loss,
    multilabel_answer_loss,
    segment_softmax,
    span_f1,
    span_positions,
    span_softmax_crossentropy,
)

__all__ = [
    "AnswerLossT",
    "AnswerTargets",
    "NO_GOLD",
    "expected_f1_loss",
    "make_answer_targets",
    "make_expected_f1_loss",
    "make_multilabel_answer_loss",
    "make_span_softmax_loss",
    "multilabel_answer_loss",
    "segment_softmax",
    "span_f1",
    "span_positions",
    "span_softmax_crossentropy",
]
