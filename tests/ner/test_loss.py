"""The multi-label categorical cross-entropy of `globalpointer_ner`
(`ner/loss.py`): against the formula and brute force, its gradient against
finite differences, extreme logits, soft targets and boundary smoothing."""
import numpy
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from thinc.api import NumpyOps

from spacy_globalpointer.models import make_layout
from spacy_globalpointer.models.types import MASK_VALUE
from spacy_globalpointer.ner.loss import (
    boundary_smoothed_targets,
    mlcce_rowwise,
    multilabel_categorical_crossentropy,
)

from ..strategies import PROPERTY


def brute_loss(scores, targets, mask, lengths):
    """Per (segment, label): log(1 + sum_pos exp(-s)) + log(1 + sum_neg exp(s))."""
    scores = scores.astype("float64")
    mask = numpy.broadcast_to(mask, scores.shape)
    bounds = numpy.concatenate([[0], numpy.cumsum(lengths)])
    out = numpy.zeros((len(lengths), scores.shape[1]))
    for k in range(len(lengths)):
        rows = slice(bounds[k], bounds[k + 1])
        for lab in range(scores.shape[1]):
            s = scores[rows, lab]
            m, t = mask[rows, lab], targets[rows, lab]
            pos = -s[m & t]
            neg = s[m & ~t]
            out[k, lab] = numpy.logaddexp.reduce(numpy.concatenate([[0.0], pos])) + \
                numpy.logaddexp.reduce(numpy.concatenate([[0.0], neg]))
    return out


@st.composite
def loss_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = numpy.random.default_rng(seed)
    lengths = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    lengths = numpy.asarray(lengths, dtype="int64")
    n_rows = int(lengths.sum())
    n_labels = draw(st.integers(1, 3))
    n_spans = draw(st.integers(0, 6))
    targets = rng.random((n_rows, n_labels, n_spans)) < 0.3
    mask = rng.random((n_rows, 1, n_spans)) < 0.8
    return rng, lengths, targets, mask


def _segments_with_an_empty_one():
    """A fixed problem whose middle segment has no rows: 5 rows in segments of
    2, 0 and 3, 2 labels, 7 spans."""
    rng = numpy.random.default_rng(0)
    targets = rng.random((5, 2, 7)) < 0.3
    mask = rng.random((5, 1, 7)) < 0.8
    return rng, numpy.array([2, 0, 3]), targets, mask


@PROPERTY
@given(loss_problems(), st.just(2.0))
@example(_segments_with_an_empty_one(), 3.0)
def test_loss_matches_brute_force_and_finite_differences(problem, scale):
    rng, lengths, targets, mask = problem
    scores = rng.normal(0.0, scale, size=targets.shape)
    loss, grad = multilabel_categorical_crossentropy(scores, targets, mask, lengths)
    assert loss.shape == (len(lengths), targets.shape[1])
    assert (loss[lengths == 0] == 0).all()  # a segment without rows adds nothing
    want = brute_loss(scores, targets, mask, lengths)
    numpy.testing.assert_allclose(loss, want, rtol=1e-10, atol=1e-10)
    eps = 1e-6
    numeric = numpy.zeros_like(scores)
    for idx in numpy.ndindex(*scores.shape):
        up, down = scores.copy(), scores.copy()
        up[idx] += eps
        down[idx] -= eps
        f_up = multilabel_categorical_crossentropy(up, targets, mask, lengths)[0].sum()
        f_down = multilabel_categorical_crossentropy(down, targets, mask, lengths)[0].sum()
        numeric[idx] = (f_up - f_down) / (2 * eps)
    numpy.testing.assert_allclose(grad, numeric, atol=1e-6)
    assert (grad[~numpy.broadcast_to(mask, grad.shape)] == 0).all()


@PROPERTY
@given(loss_problems(), st.sampled_from(["float16", "float32"]), st.sampled_from([1.0, 100.0, 1e4]))
def test_loss_is_finite_and_precise_for_extreme_logits(problem, dtype, bound):
    rng, lengths, targets, mask = problem
    scores = rng.uniform(-bound, bound, size=targets.shape)
    # Include the extremes and masked cells holding the mask value.
    if scores.size:
        scores.flat[0] = bound
        scores.flat[-1] = -bound
    scores = numpy.where(numpy.broadcast_to(mask, scores.shape), scores, MASK_VALUE).astype(dtype)
    loss, grad = multilabel_categorical_crossentropy(scores, targets, mask, lengths)
    assert grad.dtype == numpy.dtype(dtype)
    assert numpy.isfinite(loss).all() and numpy.isfinite(grad).all()
    ref_loss, ref_grad = multilabel_categorical_crossentropy(
        scores.astype("float64"), targets, mask, lengths
    )
    numpy.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-4)
    atol = 2e-3 if dtype == "float16" else 1e-6
    numpy.testing.assert_allclose(grad.astype("float64"), ref_grad, atol=atol)
    # Whatever is in the masked cells does not matter.
    flipped = numpy.where(numpy.broadcast_to(mask, scores.shape), scores, -MASK_VALUE).astype(dtype)
    loss2, grad2 = multilabel_categorical_crossentropy(flipped, targets, mask, lengths)
    numpy.testing.assert_array_equal(loss, loss2)
    numpy.testing.assert_array_equal(grad, grad2)


def test_loss_matches_formula_and_survives_huge_logits():
    scores = numpy.array([[2.0, -1.0, 0.5, 3.0]])
    targets = numpy.array([[True, False, False, True]])
    loss, _ = mlcce_rowwise(scores, targets)
    expected = numpy.log(1 + numpy.exp(-2.0) + numpy.exp(-3.0)) + numpy.log(
        1 + numpy.exp(-1.0) + numpy.exp(0.5)
    )
    numpy.testing.assert_allclose(loss[0], expected)
    for dtype in ("float16", "float32"):
        big = numpy.array([[1e4, -1e4, 1e4, -1e4]], dtype=dtype)
        loss, grad = mlcce_rowwise(big, numpy.array([[False, True, False, True]]))
        assert numpy.isfinite(loss).all() and numpy.isfinite(grad).all()
        assert grad.dtype == numpy.dtype(dtype)
        numpy.testing.assert_allclose(float(loss[0]), 2e4 + numpy.log(2) * 2, rtol=1e-3)


def test_soft_target_loss_matches_formula_and_hard_targets():
    """Soft targets weigh each span's positive and negative terms; 0/1 floats
    give the hard loss; the gradient matches finite differences."""
    rng = numpy.random.default_rng(6)
    scores = rng.normal(size=(4, 2, 6)) * 2
    hard = rng.random((4, 2, 6)) < 0.3
    mask = rng.random((4, 1, 6)) < 0.85
    lengths = numpy.array([1, 3])
    loss_hard, grad_hard = multilabel_categorical_crossentropy(scores, hard, mask, lengths)
    loss_float, grad_float = multilabel_categorical_crossentropy(scores, hard.astype("float64"), mask, lengths)
    numpy.testing.assert_allclose(loss_float, loss_hard, rtol=1e-12)
    numpy.testing.assert_allclose(grad_float, grad_hard, rtol=1e-12, atol=1e-15)

    soft = numpy.where(hard, 0.8, rng.choice([0.0, 0.05], size=hard.shape))
    loss, grad = multilabel_categorical_crossentropy(scores, soft, mask, lengths)
    m = numpy.broadcast_to(mask, scores.shape)
    for seg, rows in enumerate((slice(0, 1), slice(1, 4))):
        for label in range(2):
            s, t, ok = scores[rows, label][m[rows, label]], soft[rows, label][m[rows, label]], True
            expected = numpy.log(1 + numpy.sum(t * numpy.exp(-s))) + numpy.log(1 + numpy.sum((1 - t) * numpy.exp(s)))
            numpy.testing.assert_allclose(loss[seg, label], expected, rtol=1e-10)
    eps = 1e-6
    for index in list(numpy.ndindex(scores.shape))[::5]:
        plus, minus = scores.copy(), scores.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (multilabel_categorical_crossentropy(plus, soft, mask, lengths)[0].sum()
                   - multilabel_categorical_crossentropy(minus, soft, mask, lengths)[0].sum()) / (2 * eps)
        assert grad[index] == pytest.approx(numeric, abs=1e-6)
    # Large logits stay finite in float16, like the hard loss.
    big = (scores * 5000).astype("float16")
    loss16, grad16 = multilabel_categorical_crossentropy(big, soft, mask, lengths)
    assert numpy.isfinite(loss16).all() and numpy.isfinite(grad16).all() and grad16.dtype == numpy.float16


def test_boundary_smoothed_targets():
    layout = make_layout([6, 3], max_length=4, block_size=4)
    shape = (layout.n_blocks, 2, layout.block_size, layout.key_width)
    # (doc, start, end, label): inside doc 0; at doc 0's start; all of doc 1.
    gold = tuple(numpy.array(x) for x in ([0, 0, 1], [1, 0, 0], [3, 1, 3], [0, 1, 0]))
    t = boundary_smoothed_targets(NumpyOps(), layout, gold, shape, 0.2)
    block, label, row, col = numpy.nonzero(t)
    doc, start, end = layout.locate(block, row, col)
    got = {(int(d), int(s), int(e), int(lab)): round(float(v), 6)
           for d, s, e, lab, v in zip(doc, start, end, label, t[block, label, row, col])}
    assert got == {
        # span 1..3 of doc 0 keeps 0.8; its four neighbours get 0.05 each
        (0, 1, 3, 0): 0.8, (0, 0, 3, 0): 0.05, (0, 2, 3, 0): 0.05, (0, 1, 2, 0): 0.05, (0, 1, 4, 0): 0.05,
        # a one-token span at the doc's start has one neighbour that exists
        (0, 0, 1, 1): 0.8, (0, 0, 2, 1): 0.2,
        # the whole of doc 1: neighbours past its ends do not exist
        (1, 0, 3, 0): 0.8, (1, 1, 3, 0): 0.1, (1, 0, 2, 0): 0.1,
    }
    # Two gold spans that are each other's neighbours: capped at 1.
    gold = tuple(numpy.array(x) for x in ([0, 0], [1, 1], [3, 4], [0, 0]))
    t = boundary_smoothed_targets(NumpyOps(), layout, gold, shape, 0.2)
    assert t.max() == pytest.approx(0.85)  # 0.8 + 0.05 from the other one
