"""GlobalPointer for spaCy: nested and flat named-entity recognition
(`globalpointer_ner`) and single-answer extraction (`globalpointer_extractor`)."""
from .extractor import (
    GlobalPointerExtractor,
    context_bounds,
    make_answer_scorer,
    make_globalpointer_extractor,
    make_question_doc,
)
from .models import build_efficient_globalpointer_model, build_globalpointer_model
from .ner import GlobalPointerNER, make_globalpointer_ner, make_globalpointer_scorer

__version__ = "0.1.0"

__all__ = [
    "GlobalPointerExtractor",
    "GlobalPointerNER",
    "build_efficient_globalpointer_model",
    "build_globalpointer_model",
    "context_bounds",
    "make_answer_scorer",
    "make_globalpointer_extractor",
    "make_globalpointer_ner",
    "make_globalpointer_scorer",
    "make_question_doc",
]
