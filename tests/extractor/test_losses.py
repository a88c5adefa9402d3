"""The single-answer losses, checked against a brute-force enumeration of
every span and against finite differences."""
import warnings

import numpy
import pytest
from thinc.api import NumpyOps

from spacy_globalpointer.extractor.losses import (
    NO_GOLD,
    expected_f1_loss,
    make_answer_targets,
    make_expected_f1_loss,
    multilabel_answer_loss,
    segment_softmax,
    span_softmax_crossentropy,
)
from spacy_globalpointer.ner.loss import multilabel_categorical_crossentropy
from spacy_globalpointer.models import GlobalPointerHead, SpanScores
from spacy_globalpointer.models.types import MASK_VALUE

OPS = NumpyOps()
N_LABELS = 2
# Docs of these lengths, scored with spans of up to MAX_LENGTH tokens in
# blocks of BLOCK tokens, so docs span several blocks and spans cross them.
LENGTHS = (9, 0, 4, 13)
MAX_LENGTH, BLOCK = 5, 3
# Token [start, end) of each doc's context region.
CONTEXT = [(3, 9), (0, 0), (0, 4), (2, 13)]
# Gold answer per (doc, label): a normal span, no answer, a span longer than
# MAX_LENGTH (not scored), a span outside the context.
GOLD = [
    [(4, 6), (3, 4)],
    [(NO_GOLD, NO_GOLD), (NO_GOLD, NO_GOLD)],
    [(0, 4), (NO_GOLD, NO_GOLD)],
    [(5, 12), (0, 2)],
]


def make_problem(seed=0, dtype="float64", scale=3.0):
    """Random logits in the layout of a real head, and the targets."""
    head = GlobalPointerHead(
        nO=N_LABELS, nI=4, head_size=4, max_length=MAX_LENGTH, block_size=BLOCK
    )
    Xs = [numpy.zeros((n, 4), dtype="float32") for n in LENGTHS]
    head.initialize(X=Xs)
    out = head.predict(Xs)
    rng = numpy.random.default_rng(seed)
    logits = rng.normal(0.0, scale, size=out.scores.shape)
    scores = numpy.where(out.mask, logits, MASK_VALUE).astype(dtype)
    span_scores = SpanScores(scores, out.mask, out.layout)
    return span_scores, make_answer_targets(OPS, span_scores, numpy.asarray(CONTEXT), numpy.asarray(GOLD))


def enumerate_spans(span_scores, doc):
    """(start, end, logits per label) of every span of the doc that may be an
    answer: scored and inside the context, found by brute force."""
    layout = span_scores.layout
    c_start, c_end = CONTEXT[doc]
    found = []
    for start in range(c_start, c_end):
        for end in range(start + 1, c_end + 1):
            block, row, col, ok = layout.position([doc], [start], [end])
            if ok[0]:
                assert span_scores.mask[block[0], 0, row[0], col[0]]
                found.append((start, end, span_scores.scores[block[0], :, row[0], col[0]]))
    return found


def f1(a, b):
    overlap = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return 2 * overlap / ((a[1] - a[0]) + (b[1] - b[0]))


def brute_losses(span_scores, entropy_weight):
    """Softmax CE and expected-F1 loss per (doc, label), straight from the
    formulas; NaN where the softmax CE has no reachable gold."""
    ce = numpy.full((len(LENGTHS), N_LABELS), numpy.nan)
    ef1 = numpy.zeros((len(LENGTHS), N_LABELS))
    for doc in range(len(LENGTHS)):
        spans = enumerate_spans(span_scores, doc)
        for label in range(N_LABELS):
            gold = GOLD[doc][label]
            if gold[0] == NO_GOLD or not spans:
                continue
            s = numpy.asarray([v[label] for _, _, v in spans], dtype="float64")
            log_p = s - numpy.logaddexp.reduce(s)
            p = numpy.exp(log_p)
            f = numpy.asarray([f1((a, b), gold) for a, b, _ in spans])
            ef1[doc, label] = -(p * f).sum() + entropy_weight * (p * log_p).sum()
            hits = [k for k, (a, b, _) in enumerate(spans) if (a, b) == tuple(gold)]
            if hits:
                ce[doc, label] = -log_p[hits[0]]
    return ce, ef1


def test_targets_place_gold_and_context():
    span_scores, targets = make_problem()
    # Doc 3's answers are unreachable: (5, 12) is too long, (0, 2) lies
    # before its context.
    assert targets.reachable.tolist() == [[True, True], [False, False], [True, False], [False, False]]
    assert targets.has_gold.tolist() == [[True, True], [False, False], [True, False], [True, True]]
    allowed = targets.allowed
    n_allowed = sum(len(enumerate_spans(span_scores, d)) for d in range(len(LENGTHS)))
    assert int(allowed.sum()) == n_allowed
    # Every allowed position has the (start, end) that `locate` gives.
    block, _, row, col = numpy.nonzero(allowed)
    doc, start, end = span_scores.layout.locate(block, row, col)
    assert (targets.span_start[block, 0, row, col] == start).all()
    assert (targets.span_end[block, 0, row, col] == end).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("entropy_weight", [0.0, 0.3])
def test_losses_match_brute_force(seed, entropy_weight):
    span_scores, targets = make_problem(seed)
    want_ce, want_ef1 = brute_losses(span_scores, entropy_weight)
    _, ce = span_softmax_crossentropy(OPS, span_scores, targets)
    reachable = ~numpy.isnan(want_ce)
    numpy.testing.assert_allclose(ce[reachable], want_ce[reachable], rtol=1e-10)
    assert (ce[~reachable] == 0).all()
    _, ef1 = expected_f1_loss(OPS, span_scores, targets, entropy_weight=entropy_weight)
    numpy.testing.assert_allclose(ef1, want_ef1, rtol=1e-10, atol=1e-12)
    _, mixed = expected_f1_loss(
        OPS, span_scores, targets, entropy_weight=entropy_weight, crossentropy_weight=2.0
    )
    numpy.testing.assert_allclose(mixed, want_ef1 + 2 * numpy.nan_to_num(want_ce), rtol=1e-10, atol=1e-12)
    # The gold span of doc 3 (7 tokens) is longer than MAX_LENGTH: not
    # learnable by the softmax CE, but overlapping spans earn expected F1.
    assert ce[3, 0] == 0 and ef1[3, 0] < 0


LOSSES = {
    "softmax": span_softmax_crossentropy,
    "expected_f1": make_expected_f1_loss(0.0),
    "expected_f1_entropy": make_expected_f1_loss(0.2),
    "expected_f1_mixed": make_expected_f1_loss(0.1, crossentropy_weight=0.5),
    "multilabel": multilabel_answer_loss,
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_finite_differences(name):
    loss_fn = LOSSES[name]
    span_scores, targets = make_problem(seed=3)
    grad, loss = loss_fn(OPS, span_scores, targets)
    assert grad.shape == span_scores.scores.shape and grad.dtype == numpy.float64
    allowed = numpy.broadcast_to(targets.allowed, grad.shape)
    assert (grad[~allowed] == 0).all()
    eps = 1e-6
    positions = numpy.argwhere(allowed)
    rng = numpy.random.default_rng(0)
    for idx in positions[rng.choice(len(positions), size=40, replace=False)]:
        idx = tuple(idx)
        up, down = span_scores.scores.copy(), span_scores.scores.copy()
        up[idx] += eps
        down[idx] -= eps
        f_up = loss_fn(OPS, SpanScores(up, span_scores.mask, span_scores.layout), targets)[1].sum()
        f_down = loss_fn(OPS, SpanScores(down, span_scores.mask, span_scores.layout), targets)[1].sum()
        assert abs((f_up - f_down) / (2 * eps) - grad[idx]) < 1e-6


@pytest.mark.parametrize("name", list(LOSSES))
def test_docs_without_gold_add_no_softmax_loss(name):
    span_scores, targets = make_problem(seed=4)
    grad, loss = LOSSES[name](OPS, span_scores, targets)
    assert loss[1].tolist() == [0.0, 0.0]  # the empty doc
    # Doc 2 has no answer of label 1: only the multi-label CE learns from it.
    block_doc = numpy.repeat(numpy.arange(len(LENGTHS)), targets.blocks_per_doc)
    no_answer = grad[block_doc == 2][:, 1]
    assert (loss[2, 1] != 0) == (name == "multilabel")
    assert (no_answer != 0).any() == (name == "multilabel")


def test_mixed_loss_learns_unreachable_gold_only_through_expected_f1():
    """Doc 3's answer is too long to be scored: the cross-entropy part adds
    nothing there, the expected-F1 part does."""
    span_scores, targets = make_problem(seed=8)
    _, pure = expected_f1_loss(OPS, span_scores, targets)
    _, mixed = expected_f1_loss(OPS, span_scores, targets, crossentropy_weight=1.0)
    assert mixed[3, 0] == pure[3, 0] and mixed[0, 0] > pure[0, 0]


def test_multilabel_answer_loss_is_the_ner_loss_on_the_answer():
    span_scores, targets = make_problem(seed=5)
    grad, loss = multilabel_answer_loss(OPS, span_scores, targets)
    n_blocks, n_labels, C, K = span_scores.scores.shape
    positive = numpy.zeros((n_blocks, n_labels, C * K), dtype=bool)
    for doc, label in zip(*numpy.nonzero(targets.reachable)):
        block, pos = divmod(targets.gold_position[doc, label], C * K)
        positive[block, label, pos] = True
    want, _ = multilabel_categorical_crossentropy(
        span_scores.scores.reshape(n_blocks, n_labels, -1), positive,
        targets.allowed.reshape(n_blocks, 1, -1), targets.blocks_per_doc,
    )
    numpy.testing.assert_allclose(loss, want)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("scale", [1.0, 30.0, 3000.0])
def test_float16_is_finite_and_close_to_float32(name, scale):
    loss_fn = LOSSES[name]
    span_scores, targets = make_problem(seed=6, dtype="float16", scale=scale)
    grad, loss = loss_fn(OPS, span_scores, targets)
    assert grad.dtype == numpy.float16
    assert numpy.isfinite(loss).all() and numpy.isfinite(grad).all()
    wide = SpanScores(span_scores.scores.astype("float32"), span_scores.mask, span_scores.layout)
    ref_grad, ref_loss = loss_fn(OPS, wide, targets)
    numpy.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-4)
    numpy.testing.assert_allclose(grad.astype("float32"), ref_grad, atol=2e-3)


def test_masked_values_do_not_matter():
    span_scores, targets = make_problem(seed=7)
    flipped = numpy.where(span_scores.mask, span_scores.scores, -MASK_VALUE)
    other = SpanScores(flipped, span_scores.mask, span_scores.layout)
    for loss_fn in LOSSES.values():
        da, a = loss_fn(OPS, span_scores, targets)
        db, b = loss_fn(OPS, other, targets)
        numpy.testing.assert_allclose(a, b)
        numpy.testing.assert_allclose(da, db)


def test_expected_f1_rewards_overlap_and_entropy_weight_is_checked():
    """With all logits equal, lowering the score of the exact answer raises
    the loss less than lowering a span that does not overlap it lowers it."""
    span_scores, targets = make_problem()
    span_scores.scores[numpy.broadcast_to(span_scores.mask, span_scores.scores.shape)] = 0.0
    grad, _ = expected_f1_loss(OPS, span_scores, targets)
    block, pos = divmod(targets.gold_position[0, 0], grad.shape[2] * grad.shape[3])
    flat = grad.reshape(grad.shape[0], grad.shape[1], -1)
    assert flat[block, 0, pos] < 0  # raising the gold span lowers the loss
    spans = [(s, e) for s, e, _ in enumerate_spans(span_scores, 0)]
    far = [(s, e) for s, e in spans if f1((s, e), GOLD[0][0]) == 0][0]
    b, r, c, _ = span_scores.layout.position([0], [far[0]], [far[1]])
    assert grad[b[0], 0, r[0], c[0]] > 0
    with pytest.raises(ValueError, match=r"\[GP025\].*`entropy_weight`.*-0\.1"):
        make_expected_f1_loss(-0.1)
    with pytest.raises(ValueError, match=r"\[GP025\].*`crossentropy_weight`"):
        make_expected_f1_loss(0.1, crossentropy_weight=-1)


def test_segment_softmax_is_a_softmax_per_doc():
    """The probabilities of each (doc, type) sum to 1 over its allowed spans."""
    from thinc.api import NumpyOps

    ops = NumpyOps()
    rng = numpy.random.default_rng(0)
    scores = rng.normal(size=(5, 2, 7))
    allowed = rng.random((5, 1, 7)) < 0.6
    log_z, p = segment_softmax(ops, scores, allowed, numpy.asarray([2, 0, 3]))
    sums = numpy.stack([p[:2].sum(axis=(0, 2)), p[2:].sum(axis=(0, 2))])
    numpy.testing.assert_allclose(sums, 1.0)
    assert numpy.isneginf(log_z[1]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segment_softmax(ops, scores, numpy.zeros_like(allowed), numpy.asarray([2, 0, 3]))
