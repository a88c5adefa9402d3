"""GlobalPointer for spaCy: nested and flat named-entity recognition
(`globalpointer_ner`) and single-answer extraction (`globalpointer_extractor`)."""
from .answer_scorer import make_answer_scorer
from .extractor import GlobalPointerExtractor, make_globalpointer_extractor
from .models import build_efficient_globalpointer_model, build_globalpointer_model
from .pipeline import GlobalPointerNER, make_globalpointer_ner
from .question_docs import context_bounds, make_question_doc
from .scorer import make_globalpointer_scorer

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
