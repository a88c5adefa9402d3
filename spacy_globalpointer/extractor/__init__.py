"""The `globalpointer_extractor` component: single-answer extraction.

- `pipe`: the trainable pipe and its factory;
- `question_docs`: docs that pose a question (question + separator + context);
- `losses`: the registered losses over a doc's allowed spans;
- `decoding`: the best allowed span per doc and type, and its probability;
- `scorer`: the CMRC 2018 answer F1 and exact match.

`spacy_globalpointer.extractor` was a module before it was this package; the
names it had (`GlobalPointerExtractor`, `make_globalpointer_extractor`) are
still importable from here.
"""
from .pipe import GlobalPointerExtractor, make_globalpointer_extractor
from .question_docs import context_bounds, make_question_doc
from .scorer import answer_score, make_answer_scorer

__all__ = [
    "GlobalPointerExtractor",
    "answer_score",
    "context_bounds",
    "make_answer_scorer",
    "make_globalpointer_extractor",
    "make_question_doc",
]
