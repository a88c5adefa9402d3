"""The old module path `spacy_globalpointer.gold`, kept for compatibility: its
contents are now in `spacy_globalpointer.ner.gold` (and
`spacy_globalpointer.errors`, for the message helpers). It re-exports the old
names for one release and will then be removed; import from the new place."""
from .ner.gold import (
    GoldPlace,
    GoldScan,
    scan_gold,
)
from .errors import (
    describe_error,
    doc_preview,
)

__all__ = [
    "GoldPlace",
    "GoldScan",
    "describe_error",
    "doc_preview",
    "scan_gold",
]
