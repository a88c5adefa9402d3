"""Multi-label categorical cross-entropy (the GlobalPointer loss).

For one type a of one doc, with P the gold spans and Q every other scored span:

    L = log(1 + sum_{P} exp(-s)) + log(1 + sum_{Q} exp(s))

Both terms are log-sum-exp over the logits with a 0 logit appended, computed
with the max subtracted, so the loss is finite for logits of any size; float16
input is computed in float32.

A doc's spans may be spread over several rows (blocks of the layout), so rows
are grouped into segments: `lengths[k]` consecutive rows form segment k.

Soft targets t in [0, 1] (boundary smoothing) weigh each span's term: a span
enters the negative sum with weight 1 - t and the positive sum with weight t,

    L = log(1 + sum_{all} t exp(-s)) + log(1 + sum_{all} (1 - t) exp(s)),

which is the loss above for t in {0, 1}. The weights go into the exponent as
log-weights, so the computation stays a stable log-sum-exp.
"""
from typing import Tuple

import numpy
from thinc.api import get_array_module
from thinc.types import Floats1d, Floats2d, Floats3d, Ints1d


def multilabel_categorical_crossentropy(
    scores: Floats3d,
    targets: Floats3d,
    mask: Floats3d,
    lengths: Ints1d,
) -> Tuple[Floats2d, Floats3d]:
    """Loss and gradient of the multi-label categorical cross-entropy.

    scores (Floats3d): (n_rows, n_labels, n_spans) logits.
    targets: (n_rows, n_labels, n_spans) bool, True for gold spans; or float
        soft targets in [0, 1] (see the module docstring).
    mask: bool, broadcastable to scores; False for spans that are not scored.
    lengths (Ints1d): rows per segment (doc); sums to n_rows. Numpy ints.
    RETURNS (Tuple[Floats2d, Floats3d]): the loss per (segment, label), and the
        gradient of the summed loss w.r.t. scores (same dtype as scores).
    """
    xp = get_array_module(scores)
    dtype = numpy.promote_types(scores.dtype, numpy.float32)
    s = scores.astype(dtype, copy=False)
    lengths = numpy.asarray(lengths, dtype="int64")
    if targets.dtype == numpy.bool_:
        positive = xp.logical_and(mask, targets)
        negative = xp.logical_and(mask, xp.logical_not(targets))
        log_w_pos = log_w_neg = None
    else:
        t = targets.astype(dtype, copy=False)
        positive = xp.logical_and(mask, t > 0)
        negative = xp.logical_and(mask, t < 1)
        log_w_pos = xp.log(xp.where(positive, t, 1))
        log_w_neg = xp.log1p(-xp.where(negative, t, 0))
    lse_neg, grad_neg = _segment_logsumexp(xp, s, negative, lengths, log_w_neg)
    lse_pos, grad_pos = _segment_logsumexp(xp, -s, positive, lengths, log_w_pos)
    grad_neg -= grad_pos
    grad = grad_neg.astype(scores.dtype, copy=False)
    return lse_neg + lse_pos, grad


def _segment_logsumexp(xp, s, select, lengths: numpy.ndarray, log_weight=None):
    """log(1 + sum w exp(s)) over the selected entries of each segment of rows
    (w = 1, or exp(log_weight)), and its gradient w.r.t. s (the softmax
    weights, 0 where not selected)."""
    n_rows, n_labels = s.shape[0], s.shape[1]
    n_segments = lengths.shape[0]
    neg_inf = xp.asarray(-numpy.inf, dtype=s.dtype)
    masked = xp.where(select, s if log_weight is None else s + log_weight, neg_inf)
    if masked.shape[2]:
        row_max = masked.max(axis=2)
    else:
        row_max = xp.full((n_rows, n_labels), neg_inf, dtype=s.dtype)
    gather = xp.asarray(_segment_gather_index(lengths))  # (n_segments, most_rows)
    if gather.shape[1]:
        seg_max = _pad_rows(xp, row_max, neg_inf)[gather].max(axis=1)
    else:
        seg_max = xp.full((n_segments, n_labels), neg_inf, dtype=s.dtype)
    # The appended 0 logit makes the max at least 0, so the shift is finite.
    seg_max = xp.maximum(seg_max, 0)
    row_segment = xp.asarray(numpy.repeat(numpy.arange(n_segments), lengths))
    shift = seg_max[row_segment]  # (n_rows, n_labels)
    e = xp.exp(masked - shift[:, :, None])  # 0 where not selected
    row_sum = e.sum(axis=2)
    if gather.shape[1]:
        seg_sum = _pad_rows(xp, row_sum, 0)[gather].sum(axis=1)
    else:
        seg_sum = xp.zeros((n_segments, n_labels), dtype=s.dtype)
    seg_sum = seg_sum + xp.exp(-seg_max)
    lse = seg_max + xp.log(seg_sum)
    grad = e / seg_sum[row_segment][:, :, None]
    return lse, grad


def _segment_gather_index(lengths: numpy.ndarray) -> numpy.ndarray:
    """(n_segments, longest) row indices of each segment, padded with n_rows."""
    n_rows = int(lengths.sum())
    longest = int(lengths.max()) if lengths.size else 0
    starts = numpy.cumsum(lengths) - lengths
    offsets = numpy.arange(longest)[None, :]
    index = starts[:, None] + offsets
    return numpy.where(offsets < lengths[:, None], index, n_rows)


def _pad_rows(xp, A, value):
    """Append one row filled with `value` (the target of padding indices)."""
    pad = xp.full((1,) + A.shape[1:], value, dtype=A.dtype)
    return xp.concatenate([A, pad], axis=0)


def boundary_smoothed_targets(ops, layout, gold, shape, epsilon: float):
    """Soft targets with boundary smoothing (Zhu & Li, 2022): each gold span
    keeps 1 - epsilon, and epsilon is shared equally by its neighbours, the
    spans of the same type whose start or end is one token off (that are
    inside the doc and scored). A span's target is the sum of what it gets,
    at most 1.

    ops (Ops): the model's ops (the targets are made on its device).
    layout (BlockLayout): the layout of the scores.
    gold (Tuple[numpy.ndarray, ...]): (doc, start, end, label) of the gold spans.
    shape (Tuple[int, ...]): the scores' shape, (n_blocks, n_labels, C, K).
    epsilon (float): the share given away, in [0, 1).
    RETURNS (Floats4d): the targets, float32, on the device.
    """
    doc, start, end, label = (numpy.asarray(a, dtype="int64") for a in gold)
    n_gold = doc.shape[0]
    shifts = numpy.asarray([(-1, 0), (1, 0), (0, -1), (0, 1)])
    n_doc = doc.repeat(len(shifts))
    n_start = (start[:, None] + shifts[None, :, 0]).reshape(-1)
    n_end = (end[:, None] + shifts[None, :, 1]).reshape(-1)
    n_ok = layout.position(n_doc, n_start, n_end)[3] & (n_start >= 0)
    per_gold = n_ok.reshape(n_gold, len(shifts)).sum(axis=1)
    # A gold span without any neighbour keeps its full target.
    own = numpy.where(per_gold > 0, 1.0 - epsilon, 1.0)
    share = numpy.where(per_gold > 0, epsilon / numpy.maximum(per_gold, 1), 0.0).repeat(len(shifts))
    index, values = [], []
    for d, s, e, lab, v in ((doc, start, end, label, own),
                            (n_doc[n_ok], n_start[n_ok], n_end[n_ok], label.repeat(len(shifts))[n_ok], share[n_ok])):
        block, row, col, ok = layout.position(d, s, e)
        index.append(numpy.ravel_multi_index((block[ok], lab[ok], row[ok], col[ok]), shape))
        values.append(v[ok])
    flat, inverse = numpy.unique(numpy.concatenate(index), return_inverse=True)
    summed = numpy.minimum(numpy.bincount(inverse, weights=numpy.concatenate(values)), 1.0)
    targets = ops.xp.zeros(shape, dtype="float32")
    targets.reshape(-1)[ops.asarray(flat)] = ops.asarray(summed.astype("float32"))
    return targets


def mlcce_rowwise(scores: Floats2d, targets: Floats2d) -> Tuple[Floats1d, Floats2d]:
    """Convenience form: each row of a (n_rows, n_spans) matrix is one problem,
    every entry scored. RETURNS the loss per row and the gradient."""
    xp = get_array_module(scores)
    n_rows = scores.shape[0]
    loss, grad = multilabel_categorical_crossentropy(
        scores[:, None, :],
        xp.asarray(targets, dtype="bool")[:, None, :],
        xp.ones((1, 1, 1), dtype="bool"),
        numpy.ones(n_rows, dtype="int64"),
    )
    return loss[:, 0], grad[:, 0, :]
