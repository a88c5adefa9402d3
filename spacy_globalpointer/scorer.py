"""The old module path `spacy_globalpointer.scorer`, kept for compatibility:
its contents are now in `spacy_globalpointer.ner.scorer`. It re-exports the old
names for one release and will then be removed; import from the new place."""
from .ner.scorer import (
    default_score_weights,
    globalpointer_score,
    make_globalpointer_scorer,
    reported_scores,
)

__all__ = [
    "default_score_weights",
    "globalpointer_score",
    "make_globalpointer_scorer",
    "reported_scores",
]
