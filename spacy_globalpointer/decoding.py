"""The old module path `spacy_globalpointer.decoding`, kept for compatibility:
its contents are now in `spacy_globalpointer.spans` (what both components
share) and `spacy_globalpointer.ner.decoding`. It re-exports the old names for
one release and will then be removed; import from the new place."""
from .spans import (
    Candidates,
    iter_windows,
    Window,
    window_groups,
    WindowGroup,
)
from .ner.decoding import (
    decode,
    greedy_non_overlapping,
    predict_windowed,
    resolve_ents,
    top_labels_per_span,
)
from .ner.thresholds import (
    probability_to_logit,
)

__all__ = [
    "Candidates",
    "Window",
    "WindowGroup",
    "decode",
    "greedy_non_overlapping",
    "iter_windows",
    "predict_windowed",
    "probability_to_logit",
    "resolve_ents",
    "top_labels_per_span",
    "window_groups",
]
