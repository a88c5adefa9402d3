"""The old module path `spacy_globalpointer.pipeline`, kept for compatibility:
its contents are now in `spacy_globalpointer.ner.pipe` (and
`spacy_globalpointer.base`, for what both pipes share). It re-exports the old
names for one release and will then be removed; import from the new place."""
from .base import (
    DEFAULT_GP_MODEL,
    FALLBACK_MAX_LENGTH,
    HEAD_CALL_OVERHEAD,
    MIN_LEARNED_MAX_LENGTH,
    PREDICT_BATCH_SCORES,
    PREDICT_WINDOW,
    default_model_config,
)
from .ner.pipe import (
    DEFAULT_SPANS_KEY,
    globalpointer_pipe_names,
    GlobalPointerNER,
    make_globalpointer_ner,
)

__all__ = [
    "DEFAULT_GP_MODEL",
    "DEFAULT_SPANS_KEY",
    "FALLBACK_MAX_LENGTH",
    "GlobalPointerNER",
    "HEAD_CALL_OVERHEAD",
    "MIN_LEARNED_MAX_LENGTH",
    "PREDICT_BATCH_SCORES",
    "PREDICT_WINDOW",
    "default_model_config",
    "globalpointer_pipe_names",
    "make_globalpointer_ner",
]
