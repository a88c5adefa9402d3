"""The old module path `spacy_globalpointer.thresholds`, kept for
compatibility: its contents are now in `spacy_globalpointer.ner.thresholds`
(and `spacy_globalpointer.spans`, for `check_probability`). It re-exports the
old names for one release and will then be removed; import from the new
place."""
from .ner.thresholds import (
    THRESHOLD_SETTINGS,
    check_threshold_settings,
    make_threshold_table,
    probability_to_logit,
    ThresholdTable,
)
from .spans import (
    check_probability,
)

__all__ = [
    "THRESHOLD_SETTINGS",
    "ThresholdTable",
    "check_probability",
    "check_threshold_settings",
    "make_threshold_table",
    "probability_to_logit",
]
