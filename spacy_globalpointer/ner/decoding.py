"""From span logits to the spans of `globalpointer_ner`: thresholding (window
by window, see `spans.window_groups`), the most labels per span, and the
score-greedy resolution of overlaps for `doc.ents`."""
from typing import List, Optional, Sequence, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from ..models.types import MASK_VALUE, SpanScores
from ..spans import Candidates, window_groups
from .thresholds import probability_to_logit


def decode(ops, span_scores: SpanScores, threshold) -> Candidates:
    """Every scored span whose probability (sigmoid of its logit) exceeds the
    threshold of its label, with doc index, token offsets, label index and
    probability. Only the hits leave the device.

    threshold (Union[float, numpy.ndarray]): one probability, or one per label.
    """
    scores = span_scores.scores
    n_labels = scores.shape[1]
    logits = numpy.broadcast_to(probability_to_logit(threshold), (n_labels,))
    cut = ops.asarray(logits.astype(scores.dtype)).reshape(1, n_labels, 1, 1)
    hits = scores > cut
    if (logits <= MASK_VALUE).any():
        # Masked entries hold MASK_VALUE: only a cut this low lets them through.
        hits &= span_scores.mask
    flat = ops.xp.flatnonzero(hits)  # few hits: cheaper than a 4-d nonzero
    block, label, row, col = numpy.unravel_index(ops.to_numpy(flat).astype("int64"), scores.shape)
    logits = ops.to_numpy(scores.reshape(-1)[flat]).astype("float32")
    doc, start, end = span_scores.layout.locate(block, row, col)
    prob = 1.0 / (1.0 + numpy.exp(-logits))
    return Candidates(doc, start, end, label, prob.astype("float32"))


def predict_windowed(
    head: Model,
    tokvecs: Sequence[Floats2d],
    threshold,
    max_length: int,
    window: int,
    max_entries: int,
    call_overhead: int,
) -> Candidates:
    """Score the token vectors of a batch with the head, window by window, in
    groups of similar length (see `window_groups`)."""
    parts = []
    for group in window_groups(head, tokvecs, max_length, window, max_entries, call_overhead):
        found = decode(head.ops, head.predict(group.vectors), threshold)
        found = found.select(found.start < group.keep_starts[found.doc])
        shift = group.offsets[found.doc]
        parts.append(
            Candidates(group.docs[found.doc], found.start + shift, found.end + shift, found.label, found.score)
        )
    return Candidates.concat(parts)


def top_labels_per_span(candidates: Candidates, k: int) -> numpy.ndarray:
    """Indices of the candidates that are among the `k` highest-scoring labels
    of their span (doc, start, end); ties go to the lower label index."""
    c = candidates
    order = numpy.lexsort((c.label, -c.score, c.end, c.start, c.doc))
    doc, start, end = c.doc[order], c.start[order], c.end[order]
    new_span = numpy.ones(len(order), dtype=bool)
    new_span[1:] = (doc[1:] != doc[:-1]) | (start[1:] != start[:-1]) | (end[1:] != end[:-1])
    span_id = numpy.cumsum(new_span) - 1
    first = numpy.flatnonzero(new_span)
    rank = numpy.arange(len(order)) - first[span_id]
    return numpy.sort(order[rank < k])


def greedy_non_overlapping(
    starts: numpy.ndarray,
    ends: numpy.ndarray,
    scores: numpy.ndarray,
    length: int,
    occupied: Optional[numpy.ndarray] = None,
) -> numpy.ndarray:
    """Indices of a set of non-overlapping spans, picked by descending score
    (ties: earlier start, then shorter span). Spans overlapping a token marked
    in `occupied` (e.g. entities already on the doc) are never picked.
    RETURNS (numpy.ndarray): the kept indices, in pick order."""
    taken = numpy.zeros(length, dtype=bool) if occupied is None else occupied.copy()
    order = numpy.lexsort((ends - starts, starts, -scores))
    kept = []
    for i in order:
        s, e = int(starts[i]), int(ends[i])
        if not taken[s:e].any():
            taken[s:e] = True
            kept.append(i)
    return numpy.asarray(kept, dtype="int64")


def resolve_ents(
    existing: Sequence[Tuple[int, int]],
    found: Candidates,
    length: int,
    overwrite: bool,
    blocked: Optional[numpy.ndarray] = None,
) -> Tuple[List[int], numpy.ndarray]:
    """Which entities a doc ends up with: the candidates resolved to
    non-overlapping spans by score, next to the entities already on the doc.

    existing (Sequence[Tuple[int, int]]): (start, end) of the doc's entities.
    found (Candidates): one doc's candidates for `doc.ents`.
    length (int): the doc's length in tokens.
    overwrite (bool): whether candidates may replace existing entities they
        overlap (else existing entities are kept and candidates fill the gaps).
    blocked (Optional[numpy.ndarray]): (length,) bool, True for tokens that
        cannot be part of an entity (`doc.set_ents(blocked=...)`); no
        candidate covers them, with `overwrite` too.
    RETURNS (Tuple[List[int], numpy.ndarray]): the indices of the existing
        entities kept, and the indices of the candidates picked.
    """
    occupied = numpy.zeros(length, dtype=bool) if blocked is None else blocked.copy()
    if not overwrite:
        for start, end in existing:
            occupied[start:end] = True
    picked = greedy_non_overlapping(found.start, found.end, found.score, length, occupied=occupied)
    if not overwrite:
        return list(range(len(existing))), picked
    taken = numpy.zeros(length, dtype=bool)
    for i in picked:
        taken[found.start[i] : found.end[i]] = True
    kept = [i for i, (start, end) in enumerate(existing) if not taken[start:end].any()]
    return kept, picked
