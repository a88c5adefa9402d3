"""Losses for single-answer extraction: one answer span per (doc, type).

For every doc and type the scores of the doc's *allowed* spans (scored by the
layout and inside the doc's context region) are normalised with a softmax,

    p(i, j) = exp(s(i, j)) / sum_{allowed (i', j')} exp(s(i', j'))

(the GlobalPointer write-up's reading-comprehension form), and one of these
losses is applied:

- span softmax cross-entropy: -log p(gold);
- expected F1 (the write-up's "optimising F1"):
      -sum p(i, j) f1(i, j) + lambda * sum p(i, j) log p(i, j)
  with f1(i, j) the token F1 between span i..j and the gold span. Spans that
  are not scored (longer than `max_length`) count as f1 = 0;
- the multi-label categorical cross-entropy of `globalpointer_ner`, with the
  gold answer as the only positive (the baseline "top-1 span").

A doc's spans lie in several blocks of the layout (contiguous, in doc order),
so the softmax normaliser is a log-sum-exp over the doc's blocks, computed
with the maximum subtracted: finite for logits of any size. float16 scores are
computed in float32 and the gradient is returned in the input dtype. No dense
(n x n) tensor is built: f1(i, j) is computed elementwise in the block layout
from the (start, end) of every position, which `layout.locate` gives.

Every loss is a registered function (`registry.losses`) returning a callable
`loss(ops, span_scores, targets) -> (d_scores, loss per (doc, type))`: the
gradient first, in the order of thinc's losses (`thinc.api.Loss.__call__`).
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable, Tuple

import numpy
from spacy.util import registry
from thinc.types import Floats2d, Floats3d, Floats4d

from ..errors import Errors
from ..models.types import SpanScores
from ..ner.loss import multilabel_categorical_crossentropy

NO_GOLD = -1


@dataclass
class AnswerTargets:
    """The gold answers of a batch, placed in the layout of its scores.

    allowed: (n_blocks, 1, C, K) bool on the device: spans that are scored and
        lie inside their doc's context region (the only candidate answers).
    span_start: (n_blocks, 1, C, K) int32 on the device: first token of the
        span at each position (meaningful where allowed).
    span_end: (n_blocks, 1, C, K) int32 on the device: end (exclusive).
    gold_start (numpy.ndarray): (n_docs, n_labels) first token of the gold span
        per doc and type, NO_GOLD (-1) where the doc has no answer of that type.
    gold_end (numpy.ndarray): (n_docs, n_labels) end (exclusive), NO_GOLD likewise.
    gold_position (numpy.ndarray): (n_docs, n_labels) flat index of the gold span
        in a (n_blocks, C * K) view of the scores, or NO_GOLD where the gold span
        is absent or not an allowed span (too long, outside the context).
    blocks_per_doc (numpy.ndarray): (n_docs,) blocks of each doc.
    """

    allowed: Floats4d
    span_start: Floats4d
    span_end: Floats4d
    gold_start: numpy.ndarray
    gold_end: numpy.ndarray
    gold_position: numpy.ndarray
    blocks_per_doc: numpy.ndarray

    @property
    def has_gold(self) -> numpy.ndarray:
        """(n_docs, n_labels) bool: the doc has an answer of the type."""
        return self.gold_start != NO_GOLD

    @property
    def reachable(self) -> numpy.ndarray:
        """(n_docs, n_labels) bool: the gold answer is an allowed span."""
        return self.gold_position != NO_GOLD

    def gold_index(self, xp, n_spans: int) -> Tuple[numpy.ndarray, numpy.ndarray, tuple]:
        """The (doc, type) pairs with a reachable gold answer, and the index of
        each answer in a (n_blocks, n_labels, n_spans) view of the scores (a
        tuple of device arrays: block, type, position)."""
        doc, label = numpy.nonzero(self.reachable)
        block, pos = numpy.divmod(self.gold_position[doc, label], n_spans)
        return doc, label, tuple(xp.asarray(a) for a in (block, label, pos))


# (ops, span_scores, targets) -> (d_scores, loss per (doc, type)), thinc's order.
AnswerLossT = Callable[[object, SpanScores, AnswerTargets], Tuple[Floats4d, Floats2d]]


def make_answer_targets(
    ops,
    span_scores: SpanScores,
    context: numpy.ndarray,
    gold: numpy.ndarray,
) -> AnswerTargets:
    """Place the gold answers and the context regions of a batch in the
    layout of its scores.

    ops (thinc.api.Ops): the model's ops (the device arrays are made with it).
    span_scores (SpanScores): the model's output for the batch.
    context (numpy.ndarray): (n_docs, 2) token [start, end) of each doc's
        context region; answers may only start and end inside it.
    gold (numpy.ndarray): (n_docs, n_labels, 2) token [start, end) of the gold
        answer per doc and type, NO_GOLD (-1) for none.
    RETURNS (AnswerTargets): the targets.
    """
    layout = span_scores.layout
    _, _, C, K = span_scores.scores.shape
    context = numpy.asarray(context, dtype="int64").reshape(-1, 2)
    gold = numpy.asarray(gold, dtype="int64").reshape(context.shape[0], -1, 2)
    doc, start, end = span_positions(span_scores)
    in_context = (start >= context[doc, 0]) & (end <= context[doc, 1])
    gold_start, gold_end = gold[..., 0], gold[..., 1]
    has_gold = gold_start != NO_GOLD
    docs = numpy.broadcast_to(numpy.arange(gold.shape[0])[:, None], gold_start.shape)
    # `position` says whether the layout scores the gold span at all.
    g_block, g_row, g_col, ok = layout.position(
        docs.ravel(),
        numpy.where(has_gold, gold_start, 0).ravel(),
        numpy.where(has_gold, gold_end, 1).ravel(),
    )
    ok &= has_gold.ravel()
    ok[ok] = in_context[g_block[ok], g_row[ok], g_col[ok]]
    flat = (g_block * C + g_row) * K + g_col
    allowed = ops.xp.logical_and(span_scores.mask, ops.asarray(in_context[:, None]))
    return AnswerTargets(
        allowed=allowed,
        span_start=ops.asarray(start[:, None].astype("int32")),
        span_end=ops.asarray(end[:, None].astype("int32")),
        gold_start=gold_start,
        gold_end=gold_end,
        gold_position=numpy.where(ok, flat, NO_GOLD).reshape(gold_start.shape),
        blocks_per_doc=numpy.asarray(layout.blocks_per_doc, dtype="int64"),
    )


def span_positions(span_scores: SpanScores) -> Tuple[numpy.ndarray, ...]:
    """(doc, start, end) of every position of the scores, end exclusive, as
    numpy arrays of shape (n_blocks, C, K) (CPU metadata from `layout.locate`)."""
    n_blocks, _, C, K = span_scores.scores.shape
    block, row, col = numpy.broadcast_arrays(
        numpy.arange(n_blocks)[:, None, None],
        numpy.arange(C)[None, :, None],
        numpy.arange(K)[None, None, :],
    )
    return tuple(numpy.broadcast_arrays(*span_scores.layout.locate(block, row, col)))


# ---------------------------------------------------------------------------
# The softmax over a doc's allowed spans


def segment_softmax(
    ops, scores: Floats3d, allowed, blocks_per_doc: numpy.ndarray
) -> Tuple[Floats2d, Floats3d]:
    """The softmax of every (doc, type) over the doc's allowed spans.

    ops (thinc.api.Ops): the ops of the scores' device.
    scores (Floats3d): (n_blocks, n_labels, n_spans) logits, float32 or float64.
    allowed: (n_blocks, 1, n_spans) bool.
    blocks_per_doc (numpy.ndarray): (n_docs,) consecutive blocks per doc.
    RETURNS (Tuple[Floats2d, Floats3d]): log Z, the log normaliser per (doc,
        type) (-inf for a doc without allowed spans), and p, the probabilities
        (n_blocks, n_labels, n_spans), 0 where not allowed.
    """
    xp = ops.xp
    n_blocks, n_labels, n_spans = scores.shape
    dtype = scores.dtype
    neg_inf = xp.asarray(-numpy.inf, dtype=dtype)
    masked = xp.where(allowed, scores, neg_inf)
    row_max = masked.max(axis=2) if n_spans else xp.full((n_blocks, n_labels), neg_inf)
    seg_max = _segment_reduce(ops, "max", row_max, blocks_per_doc, -numpy.inf)
    # Shift by the doc's maximum; a doc without allowed spans has none.
    shift = xp.where(xp.isfinite(seg_max), seg_max, 0).astype(dtype)
    block_doc = xp.asarray(numpy.repeat(numpy.arange(blocks_per_doc.size), blocks_per_doc))
    e = xp.exp(masked - shift[block_doc][:, :, None])  # 0 where not allowed
    seg_sum = _segment_reduce(ops, "sum", e.sum(axis=2), blocks_per_doc, 0.0)
    positive = seg_sum > 0
    safe_sum = xp.where(positive, seg_sum, 1)
    log_z = xp.where(positive, shift + xp.log(safe_sum), neg_inf)
    p = e / safe_sum[block_doc][:, :, None]
    return log_z, p


def _segment_reduce(ops, how: str, rows, blocks_per_doc: numpy.ndarray, empty: float):
    """Max or sum of the rows of each doc: (n_blocks, n_labels) ->
    (n_docs, n_labels), `empty` for docs without blocks."""
    xp = ops.xp
    out = xp.full((blocks_per_doc.size, rows.shape[1]), empty, dtype=rows.dtype)
    nonempty = blocks_per_doc > 0
    if nonempty.any():
        lengths = ops.asarray1i(blocks_per_doc[nonempty])
        rows = xp.ascontiguousarray(rows)
        if how == "max":
            reduced = ops.reduce_max(rows, lengths)[0]
        else:
            reduced = ops.reduce_sum(rows, lengths)
        out[xp.asarray(numpy.flatnonzero(nonempty))] = reduced
    return out


# ---------------------------------------------------------------------------
# The losses


def span_softmax_crossentropy(
    ops, span_scores: SpanScores, targets: AnswerTargets
) -> Tuple[Floats4d, Floats2d]:
    """Softmax cross-entropy of the gold span among the doc's allowed spans,
    -log p(gold). (doc, type) pairs without a reachable gold span add nothing.

    ops (thinc.api.Ops): the model's ops.
    span_scores (SpanScores): the model's output.
    targets (AnswerTargets): the gold answers.
    RETURNS (Tuple[Floats4d, Floats2d]): the gradient of the summed loss
        w.r.t. the scores (in their dtype), and the loss per (doc, type).
    """
    xp = ops.xp
    s, allowed, shape = _flat_scores(span_scores, targets)
    log_z, grad = segment_softmax(ops, s, allowed, targets.blocks_per_doc)
    n_labels = s.shape[1]
    doc, label, index = targets.gold_index(xp, s.shape[2])
    loss = xp.zeros(log_z.shape, dtype=s.dtype)
    if doc.size:
        loss[xp.asarray(doc), xp.asarray(label)] = (
            log_z[xp.asarray(doc), xp.asarray(label)] - s[index]
        )
        grad[index] -= 1
    # No gradient for (doc, type) pairs without a reachable gold span.
    grad *= _per_block(ops, targets.reachable, targets.blocks_per_doc, n_labels)
    return grad.reshape(shape).astype(span_scores.scores.dtype, copy=False), loss


def expected_f1_loss(
    ops,
    span_scores: SpanScores,
    targets: AnswerTargets,
    *,
    entropy_weight: float = 0.0,
    crossentropy_weight: float = 0.0,
) -> Tuple[Floats4d, Floats2d]:
    """Expected F1 with an entropy term, the write-up's F1-optimising loss:

        L = -sum_k p_k f_k + lambda * sum_k p_k log p_k

    over the doc's allowed spans k, with f_k the token F1 of span k against
    the gold span. Its gradient w.r.t. the logit s_k is

        dL/ds_k = -p_k (f_k - F) + lambda * p_k (log p_k - sum_m p_m log p_m)

    with F = sum_m p_m f_m. (doc, type) pairs without a gold span add nothing;
    a gold span that is too long to be scored still rewards the spans that
    overlap it.

    ops (thinc.api.Ops): the model's ops.
    span_scores (SpanScores): the model's output.
    targets (AnswerTargets): the gold answers.
    entropy_weight (float): lambda. Positive values reward spread-out
        probabilities (an entropy bonus), 0 optimises expected F1 alone.
    crossentropy_weight (float): weight of the span softmax cross-entropy
        added to the loss (a mixed objective; 0 for the write-up's loss).
    RETURNS (Tuple[Floats4d, Floats2d]): the gradient of the summed loss
        w.r.t. the scores (in their dtype), and the loss per (doc, type).
    """
    xp = ops.xp
    s, allowed, shape = _flat_scores(span_scores, targets)
    n_blocks, n_labels, n_spans = s.shape
    log_z, p = segment_softmax(ops, s, allowed, targets.blocks_per_doc)
    has_gold = targets.has_gold
    blocks = targets.blocks_per_doc
    f1 = span_f1(ops, targets, s.dtype).reshape(n_blocks, n_labels, n_spans)
    expected = _segment_sum3(ops, p * f1, blocks)  # (n_docs, n_labels)
    block_doc = xp.asarray(numpy.repeat(numpy.arange(blocks.size), blocks))
    log_p = xp.where(allowed, s - log_z[block_doc][:, :, None], 0)
    neg_entropy = _segment_sum3(ops, p * log_p, blocks)
    grad = p * (f1 - expected[block_doc][:, :, None])
    grad *= -1
    if entropy_weight:
        grad += entropy_weight * p * (log_p - neg_entropy[block_doc][:, :, None])
    grad *= _per_block(ops, has_gold, blocks, n_labels)
    loss = -expected + entropy_weight * neg_entropy
    loss *= xp.asarray(has_gold, dtype=loss.dtype)
    grad = grad.reshape(shape)
    if crossentropy_weight:
        ce_grad, ce_loss = span_softmax_crossentropy(ops, span_scores, targets)
        loss += crossentropy_weight * ce_loss
        grad += crossentropy_weight * ce_grad.astype(grad.dtype, copy=False)
    return grad.astype(span_scores.scores.dtype, copy=False), loss


def multilabel_answer_loss(
    ops, span_scores: SpanScores, targets: AnswerTargets
) -> Tuple[Floats4d, Floats2d]:
    """The multi-label categorical cross-entropy of `globalpointer_ner` over
    the allowed spans, with the gold answer (if reachable) as the only
    positive. Unlike the softmax losses it also learns from docs without an
    answer: all their spans are negatives.

    ops (thinc.api.Ops): the model's ops.
    span_scores (SpanScores): the model's output.
    targets (AnswerTargets): the gold answers.
    RETURNS (Tuple[Floats4d, Floats2d]): the gradient of the summed loss
        w.r.t. the scores (in their dtype), and the loss per (doc, type).
    """
    xp = ops.xp
    scores = span_scores.scores
    n_blocks, n_labels, C, K = scores.shape
    positive = xp.zeros((n_blocks, n_labels, C * K), dtype="bool")
    doc, _, index = targets.gold_index(xp, C * K)
    if doc.size:
        positive[index] = True
    loss, grad = multilabel_categorical_crossentropy(
        scores.reshape(n_blocks, n_labels, C * K),
        positive,
        targets.allowed.reshape(n_blocks, 1, C * K),
        targets.blocks_per_doc,
    )
    return grad.reshape(scores.shape), loss


def span_f1(ops, targets: AnswerTargets, dtype) -> Floats4d:
    """Token F1 of every allowed span against the gold span of its doc and
    type: 2 * overlap / (length + gold length); 0 where not allowed or where
    the doc has no gold span. RETURNS (n_blocks, n_labels, C, K)."""
    xp = ops.xp
    blocks = targets.blocks_per_doc
    block_doc = numpy.repeat(numpy.arange(blocks.size), blocks)
    # Gold per block, (n_blocks, n_labels, 1, 1); docs without gold get an
    # empty span at -1, which overlaps nothing.
    g_start = xp.asarray(targets.gold_start[block_doc][:, :, None, None].astype("int32"))
    g_end = xp.asarray(targets.gold_end[block_doc][:, :, None, None].astype("int32"))
    start, end = targets.span_start, targets.span_end
    overlap = xp.minimum(end, g_end) - xp.maximum(start, g_start)
    overlap = xp.maximum(overlap, 0).astype(dtype)
    total = ((end - start) + (g_end - g_start)).astype(dtype)
    f1 = 2 * overlap / xp.maximum(total, 1)
    return xp.where(targets.allowed, f1, 0)


@registry.losses("spacy-globalpointer.SpanSoftmaxLoss.v1")
def make_span_softmax_loss() -> AnswerLossT:
    """Registered factory of the span softmax cross-entropy."""
    return span_softmax_crossentropy


@registry.losses("spacy-globalpointer.ExpectedF1Loss.v1")
def make_expected_f1_loss(
    entropy_weight: float = 0.0, crossentropy_weight: float = 0.0
) -> AnswerLossT:
    """Registered factory of the expected-F1 loss.

    entropy_weight (float): the write-up's lambda, the weight of
        sum p log p (>= 0).
    crossentropy_weight (float): weight of an added span softmax
        cross-entropy (>= 0; 0 is the write-up's loss).
    RETURNS (Callable): the loss.
    """
    for name, value in (("entropy_weight", entropy_weight), ("crossentropy_weight", crossentropy_weight)):
        if value < 0:
            raise ValueError(Errors.GP025.format(setting=name, value=value))
    # A partial of a module-level function, so the pipe stays picklable.
    return partial(
        expected_f1_loss,
        entropy_weight=float(entropy_weight),
        crossentropy_weight=float(crossentropy_weight),
    )


@registry.losses("spacy-globalpointer.MultiLabelAnswerLoss.v1")
def make_multilabel_answer_loss() -> AnswerLossT:
    """Registered factory of the multi-label categorical cross-entropy with
    the answer as the only positive (the loss of `globalpointer_ner`)."""
    return multilabel_answer_loss


# ---------------------------------------------------------------------------
# Helpers


def _flat_scores(span_scores: SpanScores, targets: AnswerTargets):
    """Scores as (n_blocks, n_labels, C * K) in at least float32, the allowed
    mask as (n_blocks, 1, C * K), and the original shape."""
    scores = span_scores.scores
    n_blocks, n_labels, C, K = scores.shape
    dtype = numpy.promote_types(scores.dtype, numpy.float32)
    s = scores.astype(dtype, copy=False).reshape(n_blocks, n_labels, C * K)
    return s, targets.allowed.reshape(n_blocks, 1, C * K), scores.shape


def _segment_sum3(ops, values, blocks_per_doc: numpy.ndarray):
    """Sum of (n_blocks, n_labels, n_spans) values per doc -> (n_docs, n_labels)."""
    return _segment_reduce(ops, "sum", values.sum(axis=2), blocks_per_doc, 0.0)


def _per_block(ops, flags: numpy.ndarray, blocks_per_doc: numpy.ndarray, n_labels: int):
    """(n_docs, n_labels) bool flags spread to the blocks: (n_blocks, n_labels, 1)."""
    block_doc = numpy.repeat(numpy.arange(blocks_per_doc.size), blocks_per_doc)
    return ops.xp.asarray(flags.reshape(-1, n_labels)[block_doc][:, :, None])
