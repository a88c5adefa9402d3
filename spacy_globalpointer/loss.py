"""The old module path `spacy_globalpointer.loss`, kept for compatibility: its
contents are now in `spacy_globalpointer.ner.loss`. It re-exports the old names
for one release and will then be removed; import from the new place."""
from .ner.loss import (
    boundary_smoothed_targets,
    mlcce_rowwise,
    multilabel_categorical_crossentropy,
)

__all__ = [
    "boundary_smoothed_targets",
    "mlcce_rowwise",
    "multilabel_categorical_crossentropy",
]
