"""The old module path `spacy_globalpointer.answer_decoding`, kept for
compatibility: its contents are now in
`spacy_globalpointer.extractor.decoding`. It re-exports the old names for one
release and will then be removed; import from the new place."""
from .extractor.decoding import (
    best_spans,
    predict_answers,
)

__all__ = [
    "best_spans",
    "predict_answers",
]
