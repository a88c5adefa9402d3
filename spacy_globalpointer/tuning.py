"""The old module path `spacy_globalpointer.tuning`, kept for compatibility:
its contents are now in `spacy_globalpointer.ner.tuning`. It re-exports the old
names for one release and will then be removed; import from the new place."""
from .ner.tuning import (
    CANDIDATE_FLOOR,
    DEFAULT_GRID,
    MAX_ROUNDS,
    TARGETS,
    collect_dev_set,
    Counts,
    DevSet,
    ent_counts,
    ent_counts_per_doc,
    span_counts,
    tune,
    tune_thresholds,
)

__all__ = [
    "CANDIDATE_FLOOR",
    "Counts",
    "DEFAULT_GRID",
    "DevSet",
    "MAX_ROUNDS",
    "TARGETS",
    "collect_dev_set",
    "ent_counts",
    "ent_counts_per_doc",
    "span_counts",
    "tune",
    "tune_thresholds",
]
