"""From span logits to spans: thresholding, windows over long docs, and the
score-greedy resolution of overlaps for `doc.ents`."""
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from .models.layout import group_by_geometry
from .models.types import MASK_VALUE, SpanScores
from .thresholds import probability_to_logit


@dataclass
class Candidates:
    """Predicted spans of a batch, as parallel numpy arrays (end exclusive)."""

    doc: numpy.ndarray
    start: numpy.ndarray
    end: numpy.ndarray
    label: numpy.ndarray
    score: numpy.ndarray

    @classmethod
    def empty(cls) -> "Candidates":
        ints = numpy.zeros((0,), dtype="int64")
        return cls(ints, ints, ints, ints, numpy.zeros((0,), dtype="float32"))

    @classmethod
    def concat(cls, parts: Sequence["Candidates"]) -> "Candidates":
        if not parts:
            return cls.empty()
        return cls(
            *(numpy.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS)
        )

    def select(self, keep) -> "Candidates":
        """The candidates at `keep` (a mask, an index array or a slice)."""
        return Candidates(*(getattr(self, f)[keep] for f in _FIELDS))

    def __len__(self) -> int:
        return int(self.doc.shape[0])


_FIELDS = ("doc", "start", "end", "label", "score")


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


@dataclass
class Window:
    """A piece of a doc's token vectors scored on its own.

    Because RoPE makes scores depend only on j - i, a span gets the same score
    in a window as in the whole doc, as long as the window holds the span."""

    doc: int
    offset: int  # first token of the window in the doc
    keep_starts: int  # spans starting at local positions < keep_starts are kept
    vectors: Floats2d


def iter_windows(
    tokvecs: Sequence[Floats2d], max_length: int, window: int
) -> Iterator[Window]:
    """Cut docs longer than `window + max_length - 1` tokens into windows of
    `window` span starts, each with `max_length - 1` tokens of right context,
    so that every span of up to `max_length` tokens is scored exactly once."""
    context = max(max_length - 1, 0)
    for i, vecs in enumerate(tokvecs):
        n = vecs.shape[0]
        if n <= window + context:
            yield Window(i, 0, n, vecs)
            continue
        for offset in range(0, n, window):
            stop = min(n, offset + window + context)
            yield Window(i, offset, window, vecs[offset:stop])


@dataclass
class WindowGroup:
    """Windows scored together in one call of the head."""

    vectors: List[Floats2d]
    docs: numpy.ndarray  # the doc of each window
    offsets: numpy.ndarray  # the window's first token in its doc
    keep_starts: numpy.ndarray  # local span starts below this are the window's own


def window_groups(
    head: Model,
    tokvecs: Sequence[Floats2d],
    max_length: int,
    window: int,
    max_entries: int,
    call_overhead: int,
) -> Iterator[WindowGroup]:
    """Cut the docs into windows (`iter_windows`) and group windows of similar
    length (`group_by_geometry`), so short docs are not padded to the geometry
    of long ones, and a group holds at most `max_entries` scores per label (a
    single longer window is scored alone): the memory of a call is bounded
    whatever the doc lengths.

    max_entries (int): the most score entries per label of one head call.
    call_overhead (int): what one more head call costs, in score entries per
        label (see `group_by_geometry`).
    """
    windows = list(iter_windows(tokvecs, max_length, window))
    groups = group_by_geometry(
        [w.vectors.shape[0] for w in windows], max_length, head.attrs["block_size"],
        overhead=call_overhead, max_entries=max_entries,
    )
    for group in groups:
        batch = [windows[i] for i in group]
        yield WindowGroup(
            [w.vectors for w in batch],
            numpy.asarray([w.doc for w in batch], dtype="int64"),
            numpy.asarray([w.offset for w in batch], dtype="int64"),
            numpy.asarray([w.keep_starts for w in batch], dtype="int64"),
        )


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
