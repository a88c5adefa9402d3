"""Decoding for single-answer extraction: per doc and type, the allowed span
with the highest score, and its probability under the softmax over all the
doc's allowed spans.

Long docs are scored in windows (see `spans.iter_windows`), each span in
exactly one window. The softmax normaliser of a doc is then combined from
its windows: per window the best logit and log Z = log-sum-exp of the
window's allowed spans, and over windows the best of the best and
log Z = logaddexp of the windows' log Z. So the probability does not depend
on how the doc was cut.
"""
from typing import Sequence, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from ..models.types import SpanScores
from ..spans import Candidates, window_groups
from .losses import segment_softmax, span_positions


def best_spans(
    ops, span_scores: SpanScores, bounds: numpy.ndarray
) -> Tuple[numpy.ndarray, ...]:
    """The best allowed span per (doc, type) of one call of the head.

    ops (thinc.api.Ops): the head's ops.
    span_scores (SpanScores): the head's output.
    bounds (numpy.ndarray): (n_docs, 3) per doc: the first token an answer may
        start at, the token before which it must start, and the token at or
        before which it must end (end exclusive).
    RETURNS (Tuple[numpy.ndarray, ...]): best logit, log Z, start and end,
        each (n_docs, n_labels) numpy; the logits are -inf and start = end = 0
        for a doc without allowed spans.
    """
    xp = ops.xp
    scores = span_scores.scores
    n_blocks, n_labels, C, K = scores.shape
    doc, start, end = span_positions(span_scores)
    inside = (start >= bounds[doc, 0]) & (start < bounds[doc, 1]) & (end <= bounds[doc, 2])
    allowed = xp.logical_and(span_scores.mask, ops.asarray(inside[:, None]))
    s = scores.astype(numpy.promote_types(scores.dtype, numpy.float32), copy=False)
    s = s.reshape(n_blocks, n_labels, C * K)
    allowed = allowed.reshape(n_blocks, 1, C * K)
    blocks_per_doc = numpy.asarray(span_scores.layout.blocks_per_doc, dtype="int64")
    log_z, _ = segment_softmax(ops, s, allowed, blocks_per_doc)
    n_docs = blocks_per_doc.size
    best = numpy.full((n_docs, n_labels), -numpy.inf, dtype="float32")
    b_start = numpy.zeros((n_docs, n_labels), dtype="int64")
    b_end = numpy.zeros((n_docs, n_labels), dtype="int64")
    nonempty = numpy.flatnonzero(blocks_per_doc > 0)
    if n_blocks and C * K and nonempty.size:
        masked = xp.where(allowed, s, xp.asarray(-numpy.inf, dtype=s.dtype))
        row_best = xp.ascontiguousarray(masked.max(axis=2))  # (n_blocks, n_labels)
        row_pos = ops.to_numpy(masked.argmax(axis=2))
        seg_best, which = ops.reduce_max(row_best, ops.asarray1i(blocks_per_doc[nonempty]))
        first_block = (numpy.cumsum(blocks_per_doc) - blocks_per_doc)[nonempty]
        block = first_block[:, None] + ops.to_numpy(which).astype("int64")
        pos = row_pos[block, numpy.arange(n_labels)[None, :]]  # (n_nonempty, n_labels)
        row, col = numpy.divmod(pos, K)
        best[nonempty] = ops.to_numpy(seg_best)
        b_start[nonempty] = start[block, row, col]
        b_end[nonempty] = end[block, row, col]
    found = numpy.isfinite(best)
    return (
        best,
        ops.to_numpy(log_z).astype("float32"),
        numpy.where(found, b_start, 0),
        numpy.where(found, b_end, 0),
    )


def predict_answers(
    head: Model,
    tokvecs: Sequence[Floats2d],
    contexts: numpy.ndarray,
    max_length: int,
    window: int,
    max_entries: int,
    call_overhead: int,
) -> Candidates:
    """The best allowed span per (doc, type) and its probability, scoring the
    token vectors window by window, windows of similar length together (see
    `spans.window_groups`; the result does not depend on the grouping).

    head (Model): the GlobalPointer head.
    tokvecs (Sequence[Floats2d]): the token vectors of each doc.
    contexts (numpy.ndarray): (n_docs, 2) token [start, end) of each doc's
        context region; answers lie inside it.
    max_length (int): the longest span the head scores.
    window (int): span starts per window.
    max_entries (int): the most score entries per label of one head call.
    call_overhead (int): what one more head call costs, in score entries per
        label (see `group_by_geometry`).
    RETURNS (Candidates): one candidate per (doc, type) that has an allowed
        span, with its probability as score; no threshold applied.
    """
    n_docs, n_labels = len(tokvecs), head.get_dim("nO")
    best = numpy.full((n_docs, n_labels), -numpy.inf, dtype="float32")
    log_z = numpy.full((n_docs, n_labels), -numpy.inf, dtype="float32")
    start = numpy.zeros((n_docs, n_labels), dtype="int64")
    end = numpy.zeros((n_docs, n_labels), dtype="int64")
    contexts = numpy.asarray(contexts, dtype="int64").reshape(-1, 2)
    for group in window_groups(head, tokvecs, max_length, window, max_entries, call_overhead):
        docs, offsets = group.docs, group.offsets
        local = contexts[docs] - offsets[:, None]
        # Starts in the context and among the window's own starts (the rest
        # belong to the next window); ends in the context.
        bounds = numpy.stack(
            [local[:, 0], numpy.minimum(local[:, 1], group.keep_starts), local[:, 1]], axis=1
        )
        span_scores = head.predict(group.vectors)
        w_best, w_log_z, w_start, w_end = best_spans(head.ops, span_scores, bounds)
        for k, d in enumerate(docs):
            better = w_best[k] > best[d]
            best[d] = numpy.where(better, w_best[k], best[d])
            start[d] = numpy.where(better, w_start[k] + offsets[k], start[d])
            end[d] = numpy.where(better, w_end[k] + offsets[k], end[d])
            log_z[d] = numpy.logaddexp(log_z[d], w_log_z[k])
    doc, label = numpy.nonzero(numpy.isfinite(best))
    prob = numpy.exp(best[doc, label] - log_z[doc, label]).astype("float32")
    return Candidates(doc, start[doc, label], end[doc, label], label, prob)
