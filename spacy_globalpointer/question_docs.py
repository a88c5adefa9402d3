"""The old module path `spacy_globalpointer.question_docs`, kept for
compatibility: its contents are now in
`spacy_globalpointer.extractor.question_docs`. It re-exports the old names for
one release and will then be removed; import from the new place."""
from .extractor.question_docs import (
    DEFAULT_ANSWER_LABEL,
    DEFAULT_ANSWERS_SPANS_KEY,
    DEFAULT_CONTEXT_KEY,
    DEFAULT_SEPARATOR,
    context_bounds,
    make_question_doc,
)

__all__ = [
    "DEFAULT_ANSWERS_SPANS_KEY",
    "DEFAULT_ANSWER_LABEL",
    "DEFAULT_CONTEXT_KEY",
    "DEFAULT_SEPARATOR",
    "context_bounds",
    "make_question_doc",
]
