"""The `globalpointer_ner` component: nested and flat named-entity recognition.

- `pipe`: the trainable pipe and its factory;
- `gold`: where the gold lies, its alignment, what `initialize` warns about;
- `loss`: the multi-label categorical cross-entropy (and boundary smoothing);
- `decoding`: from span logits to `doc.spans` and `doc.ents`;
- `thresholds`: the decision thresholds, checked;
- `scorer`: the registered scorer;
- `tuning`: per-type thresholds tuned on a dev set (`tune-thresholds`);
- `callbacks`: the threshold chosen on the dev set while training
  (`spacy-globalpointer.tune_threshold.v1`, a `before_to_disk` callback).
"""
from .pipe import GlobalPointerNER, globalpointer_pipe_names, make_globalpointer_ner
from .scorer import globalpointer_score, make_globalpointer_scorer

__all__ = [
    "GlobalPointerNER",
    "globalpointer_pipe_names",
    "globalpointer_score",
    "make_globalpointer_ner",
    "make_globalpointer_scorer",
]
