"""GlobalPointer named-entity recognition for spaCy: nested and flat entities
from one trainable pipe, `globalpointer_ner`."""
from .models import build_efficient_globalpointer_model, build_globalpointer_model
from .pipeline import GlobalPointerNER, make_globalpointer_ner
from .scorer import make_globalpointer_scorer

__version__ = "0.1.0"

__all__ = [
    "GlobalPointerNER",
    "build_efficient_globalpointer_model",
    "build_globalpointer_model",
    "make_globalpointer_ner",
    "make_globalpointer_scorer",
]
