"""Decision thresholds of `globalpointer_ner`: one default, per-type overrides,
and a separate set for `doc.ents`, checked wherever they can change.

A span of type `label` is written to `doc.spans[spans_key]` when its
probability exceeds `thresholds.get(label, threshold)`, and is a candidate for
`doc.ents` when it exceeds `ents_thresholds.get(label, ents_threshold)`, where
a null `ents_threshold` means "the same as for `doc.spans`". Thresholds are
probabilities in [0, 1]: 0 keeps every scored span, 1 keeps none.
"""
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy

from ..errors import Errors
from ..spans import check_probability

# The settings that decide which spans are written, as named in the config.
THRESHOLD_SETTINGS = ("threshold", "thresholds", "ents_threshold", "ents_thresholds", "max_positive")


@dataclass
class ThresholdTable:
    """Per-label probability thresholds, in the order of the pipe's labels.

    spans (numpy.ndarray): (n_labels,) thresholds for `doc.spans`.
    ents (numpy.ndarray): (n_labels,) thresholds for `doc.ents` candidates.
    max_positive (Optional[int]): most labels kept per span in `doc.spans`.
    """

    spans: numpy.ndarray
    ents: numpy.ndarray
    max_positive: Optional[int]

    @property
    def floor(self) -> numpy.ndarray:
        """(n_labels,) the lowest threshold of each label over both outputs:
        what `predict` must keep so that `set_annotations` can choose."""
        return numpy.minimum(self.spans, self.ents)


def probability_to_logit(threshold):
    """The logit above which sigmoid(logit) > threshold, elementwise: -inf for
    0 (every span) and +inf for 1 (none)."""
    p = numpy.asarray(threshold, dtype="float64")
    with numpy.errstate(divide="ignore"):
        return numpy.log(p) - numpy.log1p(-p)


def check_threshold_settings(name: str, cfg: Mapping[str, Any]) -> None:
    """Raise a coded error for any threshold setting in `cfg` that is not
    valid, whatever set it: the config, a saved `cfg` file, or code that
    changed `pipe.cfg` at run time (e.g. `spacy find-threshold`)."""
    check_probability(name, "threshold", cfg["threshold"])
    if cfg.get("ents_threshold") is not None:
        check_probability(name, "ents_threshold", cfg["ents_threshold"])
    for setting in ("thresholds", "ents_thresholds"):
        table = cfg.get(setting) or {}
        if not isinstance(table, Mapping):
            raise ValueError(Errors.GP009.format(name=name, setting=setting, value=table))
        for label, value in table.items():
            check_probability(name, f"{setting}[{label!r}]", value)
    max_positive = cfg.get("max_positive")
    if max_positive is not None and (
        isinstance(max_positive, bool) or not isinstance(max_positive, int) or max_positive < 1
    ):
        raise ValueError(Errors.GP010.format(name=name, value=max_positive))


def make_threshold_table(name: str, cfg: Mapping[str, Any], labels: Sequence[str]) -> ThresholdTable:
    """Check the threshold settings and resolve them per label.

    name (str): the component's name, for messages.
    cfg (Mapping[str, Any]): the pipe's cfg.
    labels (Sequence[str]): the pipe's labels, in model order.
    RETURNS (ThresholdTable): the thresholds per label.
    """
    check_threshold_settings(name, cfg)
    known = set(labels)
    for setting in ("thresholds", "ents_thresholds"):
        unknown = sorted(set(cfg.get(setting) or {}) - known)
        if unknown:
            raise ValueError(
                Errors.GP011.format(name=name, setting=setting, unknown=unknown, labels=list(labels))
            )
    per_type: Dict[str, float] = cfg.get("thresholds") or {}
    spans = numpy.asarray([per_type.get(lab, cfg["threshold"]) for lab in labels], dtype="float64")
    ents_default = cfg.get("ents_threshold")
    ents_per_type: Dict[str, float] = cfg.get("ents_thresholds") or {}
    ents = numpy.asarray(
        [
            ents_per_type.get(lab, spans[i] if ents_default is None else ents_default)
            for i, lab in enumerate(labels)
        ],
        dtype="float64",
    )
    return ThresholdTable(spans=spans, ents=ents, max_positive=cfg.get("max_positive"))
