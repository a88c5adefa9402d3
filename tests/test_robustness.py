"""Robustness: property-based checks of the layout, decoder and loss, and
pipe-level checks with hostile input, long docs, bad gold, damaged model
directories and data that must survive the pipe.

Everything here runs on CPU in well under a minute.
"""
import os
import re
import struct

import numpy
import pytest
import spacy
import srsly
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, Span, SpanGroup, Token
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import NumpyOps

import spacy_globalpointer.base as gp_base
from spacy_globalpointer.ner.decoding import decode, greedy_non_overlapping, predict_windowed
from spacy_globalpointer.ner.thresholds import probability_to_logit
from spacy_globalpointer.spans import Candidates
from spacy_globalpointer.ner.loss import multilabel_categorical_crossentropy
from spacy_globalpointer.models.globalpointer import ROPE_BASE, GlobalPointerHead
from spacy_globalpointer.models.layout import make_layout
from spacy_globalpointer.models.types import MASK_VALUE, SpanScores

PIPE = "globalpointer_ner"
OPS = NumpyOps()
PROPERTY = settings(max_examples=100, deadline=None)

# ---------------------------------------------------------------------------
# Brute-force references


def brute_spans(lengths, max_length):
    """Every (doc, start, end) span with end exclusive and at most max_length
    tokens (any length if None)."""
    out = set()
    for d, n in enumerate(lengths):
        for i in range(n):
            stop = n if max_length is None else min(n, i + max_length)
            for j in range(i + 1, stop + 1):
                out.add((d, i, j))
    return out


def n_spans(n, max_length):
    """Closed form of the number of spans of a doc of n tokens."""
    cap = n if max_length is None else min(n, max_length)
    return sum(n - k + 1 for k in range(1, cap + 1))


@st.composite
def layout_args(draw):
    lengths = draw(st.lists(st.integers(0, 40), min_size=1, max_size=4))
    max_length = draw(st.one_of(st.none(), st.integers(1, 50)))
    block_size = draw(st.integers(1, 12))
    return lengths, max_length, block_size


# ---------------------------------------------------------------------------
# Layout


@PROPERTY
@given(layout_args())
def test_layout_scores_every_span_exactly_once(args):
    lengths, max_length, block_size = args
    layout = make_layout(lengths, max_length, block_size)
    mask = layout.valid_mask()
    assert mask.shape == (layout.n_blocks, 1, layout.block_size, layout.key_width)
    expected = brute_spans(lengths, max_length)
    assert int(mask.sum()) == len(expected) == sum(n_spans(n, max_length) for n in lengths)
    block, _, row, col = numpy.nonzero(mask)
    doc, start, end = layout.locate(block, row, col)
    found = list(zip(doc.tolist(), start.tolist(), end.tolist()))
    assert len(found) == len(set(found))  # no span scored twice
    assert set(found) == expected
    # position() is the inverse of locate() on every span to score
    b2, r2, c2, ok = layout.position(doc, start, end)
    assert ok.all()
    assert (b2 == block).all() and (r2 == row).all() and (c2 == col).all()
    # the head reads query row `start` and key row `end - 1` of the doc
    offsets = numpy.asarray(layout.row_offsets)[doc]
    assert (layout.query_index()[block, row] == offsets + start).all()
    assert (layout.key_index()[block, col] == offsets + end - 1).all()
    assert layout.n_tokens == sum(lengths)


@PROPERTY
@given(layout_args(), st.integers(0, 2**32 - 1))
def test_layout_position_rejects_unscorable_spans(args, seed):
    lengths, max_length, block_size = args
    layout = make_layout(lengths, max_length, block_size)
    rng = numpy.random.default_rng(seed)
    n = 50
    doc = rng.integers(0, len(lengths), n)
    start = rng.integers(-3, 45, n)
    end = start + rng.integers(-2, 55, n)
    *_, ok = layout.position(doc, start, end)
    lens = numpy.asarray(lengths)[doc]
    scorable = (start >= 0) & (end > start) & (end <= lens)
    if max_length is not None:
        scorable &= end - start <= max_length
    assert (ok == scorable).all()


@PROPERTY
@given(layout_args(), st.integers(0, 2**32 - 1))
def test_layout_touches_marks_spans_containing_a_flagged_token(args, seed):
    """`touches` (partial annotation: spans touching tokens of unknown gold)
    against a direct check of every scored span."""
    lengths, max_length, block_size = args
    layout = make_layout(lengths, max_length, block_size)
    flags = numpy.random.default_rng(seed).random(layout.n_tokens) < 0.2
    touched = layout.touches(flags)
    mask = layout.valid_mask()
    assert touched.shape == mask.shape
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)])
    block, _, row, col = numpy.nonzero(mask)
    doc, start, end = layout.locate(block, row, col)
    expected = [flags[offsets[d] + s : offsets[d] + e].any() for d, s, e in zip(doc, start, end)]
    assert touched[block, 0, row, col].tolist() == expected


# ---------------------------------------------------------------------------
# Decoding


def random_span_scores(lengths, max_length, block_size, n_labels, rng, scale=3.0, dtype="float32"):
    layout = make_layout(lengths, max_length, block_size)
    mask = layout.valid_mask()
    shape = (layout.n_blocks, n_labels, layout.block_size, layout.key_width)
    scores = rng.normal(0.0, scale, size=shape)
    scores = numpy.where(mask, scores, MASK_VALUE).astype(dtype)
    return SpanScores(scores, mask, layout)


@PROPERTY
@given(
    layout_args(), st.integers(1, 3), st.integers(0, 2**32 - 1), st.sampled_from([0.1, 0.5, 0.9])
)
def test_decode_matches_brute_force(args, n_labels, seed, threshold):
    lengths, max_length, block_size = args
    rng = numpy.random.default_rng(seed)
    span_scores = random_span_scores(lengths, max_length, block_size, n_labels, rng)
    layout, scores = span_scores.layout, span_scores.scores
    found = decode(OPS, span_scores, threshold)
    lens = numpy.asarray(lengths)
    assert (found.start >= 0).all() and (found.start < found.end).all()
    assert (found.end <= lens[found.doc]).all()
    if max_length is not None:
        assert (found.end - found.start <= max_length).all()
    # Brute force: walk every cell of the score tensor, by the layout's definition.
    logit = probability_to_logit(threshold)
    expected = {}
    for b in range(layout.n_blocks):
        d, n = int(layout.block_doc[b]), lengths[int(layout.block_doc[b])]
        for r in range(layout.block_size):
            start = int(layout.block_start[b]) + r
            for c in range(layout.key_width):
                end = int(layout.block_start[b]) + c + 1
                if not (start < end <= n) or (max_length is not None and end - start > max_length):
                    continue
                for lab in range(n_labels):
                    s = float(scores[b, lab, r, c])
                    if s > logit:
                        expected[(d, start, end, lab)] = 1.0 / (1.0 + numpy.exp(-s))
    got = {
        (int(d), int(s), int(e), int(lab)): float(p)
        for d, s, e, lab, p in zip(found.doc, found.start, found.end, found.label, found.score)
    }
    assert len(got) == len(found)
    assert got.keys() == expected.keys()
    for key, p in got.items():
        assert p == pytest.approx(expected[key], abs=1e-6)


@st.composite
def span_sets(draw):
    length = draw(st.integers(1, 30))
    raw = draw(
        st.lists(
            st.tuples(st.integers(0, length - 1), st.integers(1, 6), st.integers(0, 4)),
            max_size=25,
        )
    )
    occupied = draw(st.lists(st.integers(0, length - 1), max_size=5))
    use_occupied = draw(st.booleans())
    starts = numpy.asarray([s for s, _, _ in raw], dtype="int64")
    ends = numpy.asarray([min(s + n, length) for s, n, _ in raw], dtype="int64")
    scores = numpy.asarray([float(x) / 4 for _, _, x in raw], dtype="float32")  # many ties
    occ = None
    if use_occupied:
        occ = numpy.zeros(length, dtype=bool)
        occ[occupied] = True
    return starts, ends, scores, length, occ


@PROPERTY
@given(span_sets())
def test_greedy_non_overlapping_matches_brute_force(data):
    starts, ends, scores, length, occupied = data
    occ_before = None if occupied is None else occupied.copy()
    kept = greedy_non_overlapping(starts, ends, scores, length, occupied=occupied)
    if occupied is not None:
        assert (occupied == occ_before).all()  # the caller's array is not modified
    # Brute force: stable sort by (score desc, start, length), then greedy.
    order = sorted(
        range(len(starts)),
        key=lambda i: (-float(scores[i]), int(starts[i]), int(ends[i] - starts[i])),
    )
    taken = [False] * length if occupied is None else [bool(x) for x in occupied]
    expected = []
    for i in order:
        s, e = int(starts[i]), int(ends[i])
        if not any(taken[s:e]):
            taken[s:e] = [True] * (e - s)
            expected.append(i)
    assert kept.tolist() == expected
    # Never overlapping, never on occupied tokens, and maximal.
    used = numpy.zeros(length, dtype=int)
    for i in kept:
        used[starts[i] : ends[i]] += 1
    assert used.max(initial=0) <= 1
    blocked = used.astype(bool) | (numpy.zeros(length, bool) if occupied is None else occupied)
    if occupied is not None:
        assert not (used.astype(bool) & occupied).any()
    for i in set(range(len(starts))) - set(kept.tolist()):
        assert blocked[starts[i] : ends[i]].any()


# ---------------------------------------------------------------------------
# Loss


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


@PROPERTY
@given(loss_problems())
def test_loss_matches_brute_force_and_finite_differences(problem):
    rng, lengths, targets, mask = problem
    scores = rng.normal(0.0, 2.0, size=targets.shape)
    loss, grad = multilabel_categorical_crossentropy(scores, targets, mask, lengths)
    assert loss.shape == (len(lengths), targets.shape[1])
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


# ---------------------------------------------------------------------------
# Head: block scores equal a dense n x n reference; gradients


def _rope(x, positions):
    half = x.shape[-1] // 2
    inv_freq = ROPE_BASE ** (-numpy.arange(half, dtype="float64") / half)
    ang = positions[:, None] * inv_freq[None, :]
    a1, a2 = x[:, :half], x[:, half:]
    cos, sin = numpy.cos(ang), numpy.sin(ang)
    return numpy.concatenate([a1 * cos - a2 * sin, a1 * sin + a2 * cos], 1)


def dense_reference(head, X):
    """The n x n scores of one doc as the GlobalPointer papers define them."""
    nO, d = head.get_dim("nO"), head.attrs["head_size"]
    W, b = head.get_param("W").astype("float64"), head.get_param("b").astype("float64")
    P = X.astype("float64") @ W.T + b
    n = X.shape[0]
    pos = numpy.arange(n, dtype="float64")
    n_heads = 1 if head.attrs["efficient"] else nO
    out = numpy.zeros((nO, n, n))
    for a in range(nO):
        h = 0 if head.attrs["efficient"] else a
        q = P[:, h * d : (h + 1) * d]
        k = P[:, n_heads * d + h * d : n_heads * d + (h + 1) * d]
        if head.attrs["use_rope"]:
            q, k = _rope(q, pos), _rope(k, pos)
        out[a] = q @ k.T / numpy.sqrt(d)
    if head.attrs["efficient"]:
        bias = P @ head.get_param("W_bias").astype("float64").T + head.get_param("b_bias")
        out += bias[:, :nO].T[:, :, None] + bias[:, nO:].T[:, None, :]
    out += head.get_param("b_score").astype("float64")[:, None, None]
    return out


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=3),
    st.one_of(st.none(), st.integers(1, 20)),
    st.integers(1, 8),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_head_block_scores_equal_dense_scores(
    lengths, max_length, block_size, efficient, rope, seed
):
    head = GlobalPointerHead(
        nO=2, nI=6, head_size=4, use_rope=rope, max_length=max_length,
        block_size=block_size, efficient=efficient,
    )
    head.initialize()
    rng = numpy.random.default_rng(seed)
    Xs = [rng.normal(size=(n, 6)).astype("float32") for n in lengths]
    out = head.predict(Xs)
    layout = out.layout
    block, lab, row, col = numpy.nonzero(numpy.broadcast_to(out.mask, out.scores.shape))
    doc, start, end = layout.locate(block, row, col)
    dense = [dense_reference(head, X) for X in Xs]
    want = numpy.asarray([dense[d][a, s, e - 1] for d, a, s, e in zip(doc, lab, start, end)])
    numpy.testing.assert_allclose(out.scores[block, lab, row, col], want, rtol=1e-4, atol=1e-4)
    assert int(out.mask.sum()) == sum(n_spans(n, max_length) for n in lengths)
    assert (out.scores[~numpy.broadcast_to(out.mask, out.scores.shape)] == MASK_VALUE).all()


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.integers(1, 8),
    st.integers(1, 5),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_head_gradient_matches_finite_differences(lengths, max_length, block_size, efficient, seed):
    head = GlobalPointerHead(
        nO=2, nI=4, head_size=4, max_length=max_length, block_size=block_size, efficient=efficient
    )
    head.initialize()
    head.ops = NumpyOps(use_blis=False)  # BLIS gemm is float32 only
    rng = numpy.random.default_rng(seed)
    Xs = [rng.normal(size=(n, 4)) for n in lengths]
    for name in head.param_names:  # run in float64 for clean finite differences
        head.set_param(name, head.get_param(name).astype("float64"))
    out, backprop = head.begin_update(Xs)
    R = rng.normal(size=out.scores.shape)

    def f(Xs_):
        s = head.predict(Xs_)
        return float((numpy.where(s.mask, s.scores, 0) * R).sum())

    dXs = backprop(SpanScores(R, out.mask, out.layout))
    eps = 1e-5
    for i, X in enumerate(Xs):
        for idx in numpy.ndindex(*X.shape):
            up = [x.copy() for x in Xs]
            down = [x.copy() for x in Xs]
            up[i][idx] += eps
            down[i][idx] -= eps
            numeric = (f(up) - f(down)) / (2 * eps)
            assert dXs[i][idx] == pytest.approx(numeric, rel=1e-3, abs=1e-3)


# ---------------------------------------------------------------------------
# Pipe-level fixtures

TRAIN = [
    ("北京是中国的首都", [(0, 2, "LOC"), (3, 5, "LOC")]),
    ("张三在上海工作", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("李四加入了阿里巴巴公司", [(0, 2, "PER"), (5, 9, "ORG")]),
    ("王五去了南京大学读书", [(0, 2, "PER"), (4, 8, "ORG"), (4, 6, "LOC")]),
]


def make_examples(nlp):
    examples = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [Span(ref, s, e, label=lab) for s, e, lab in spans]
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def train_pipeline(steps=30, **config):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe(PIPE, config=config)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def trained():
    return train_pipeline()


def long_text(n_chars):
    base = "".join(text for text, _ in TRAIN)
    return (base * (n_chars // len(base) + 1))[:n_chars]


def predictions(doc, key="sc"):
    group = doc.spans[key]
    scores = numpy.asarray(group.attrs["scores"])
    assert len(scores) == len(group)
    return {(s.start, s.end, s.label_): float(p) for s, p in zip(group, scores)}


def assert_same_predictions(a, b, threshold, atol=1e-5):
    """Same spans and scores, up to float noise; a span may only be missing
    on one side if its probability sits at the threshold."""
    for key in a.keys() ^ b.keys():
        p = a.get(key, b.get(key))
        assert abs(p - threshold) < atol, (key, p)
    for key in a.keys() & b.keys():
        assert a[key] == pytest.approx(b[key], abs=atol), key


def test_trained_fixture_predicts_its_training_spans(trained):
    doc = trained(TRAIN[0][0])
    assert {(s.start, s.end, s.label_) for s in doc.spans["sc"]} >= {(0, 2, "LOC")}


HOSTILE_TEXTS = [
    "",
    " ",
    "   \n\t  ",
    "北",
    "😀",
    "👨‍👩‍👧‍👦🇨🇳",
    "\u200b\u200d",
    "e\u0301\u0301",
    "Hello世界123 🎉 مرحبا שלום Привет\x00北京",
    "北京" * 3 + "\n\n" + " " * 5 + "上海",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text(trained, text):
    doc = trained(text)
    found = predictions(doc)
    for (start, end, label), p in found.items():
        assert 0 <= start < end <= len(doc)
        assert label in trained.get_pipe(PIPE).labels
        assert trained.get_pipe(PIPE).cfg["threshold"] < p <= 1.0


def test_pipe_batch_of_empty_and_long_docs_equals_one_by_one(trained):
    texts = ["", long_text(5000), " ", "北", "", long_text(1300), "😀", TRAIN[1][0]]
    singles = [predictions(trained(t)) for t in texts]
    for batch_size in (3, 1000):
        docs = list(trained.pipe(texts, batch_size=batch_size))
        assert [d.text for d in docs] == texts
        for doc, single in zip(docs, singles):
            assert_same_predictions(predictions(doc), single, trained.get_pipe(PIPE).cfg["threshold"])
    assert len(singles[1]) > 0  # the long doc does get entities


def test_predict_all_empty_docs(trained):
    docs = list(trained.pipe(["", "", ""]))
    assert all(len(d.spans["sc"]) == 0 for d in docs)


def _as_dict(c: Candidates):
    out = {
        (int(d), int(s), int(e), int(lab)): float(p)
        for d, s, e, lab, p in zip(c.doc, c.start, c.end, c.label, c.score)
    }
    assert len(out) == len(c), "a span was predicted twice"
    return out


def test_span_scores_belong_to_their_spans(trained):
    pipe = trained.get_pipe(PIPE)
    docs = [trained.make_doc(t) for t in (long_text(3000), "", TRAIN[2][0])]
    cands = pipe.predict(docs)
    assert len(cands) > 10
    pipe.set_annotations(docs, cands)
    labels = pipe.labels
    for i, doc in enumerate(docs):
        want = {(s, e, labels[lab]): p for (d, s, e, lab), p in _as_dict(cands).items() if d == i}
        assert predictions(doc) == want
        starts = [(s.start, s.end, s.label_) for s in doc.spans["sc"]]
        assert starts == sorted(starts, key=lambda x: (x[0], x[1], labels.index(x[2])))


def test_windowed_prediction_equals_whole_doc_scoring(trained, monkeypatch):
    pipe = trained.get_pipe(PIPE)
    docs = [trained.make_doc(t) for t in (long_text(5000), long_text(700), "")]
    tokvecs = pipe.model.get_ref("tok2vec").predict(docs)
    head = pipe._head
    threshold = 0.05
    # Without windows: the head on the whole docs in one call.
    whole = _as_dict(decode(head.ops, head.predict(tokvecs), threshold))
    assert len(whole) > 100
    max_length = pipe.max_length
    # (window, max entries per call, call overhead): one group per window,
    # everything in as few calls as the budget allows, small windows...
    for window, max_entries, overhead in [(1024, 2**21, 2048), (37, 2000, 0), (max_length, 1, 0), (7, 500, 10**9)]:
        got = _as_dict(predict_windowed(head, tokvecs, threshold, max_length, window, max_entries, overhead))
        assert_same_predictions(got, whole, threshold=threshold)
    # Through the pipe, with small windows and calls forced.
    monkeypatch.setattr(gp_base, "PREDICT_WINDOW", 37)
    monkeypatch.setattr(gp_base, "PREDICT_BATCH_SCORES", 5000)
    got = _as_dict(pipe.predict(docs))
    at_default = {k: v for k, v in whole.items() if v > pipe.cfg["threshold"]}
    assert_same_predictions(got, at_default, pipe.cfg["threshold"])


def test_prediction_calls_stay_within_the_score_budget(trained, monkeypatch):
    import spacy_globalpointer.ner.decoding as decoding

    from spacy_globalpointer.models.layout import layout_cost

    pipe = trained.get_pipe(PIPE)
    entries, n_tokens = [], []
    real_decode = decoding.decode

    def spy(ops, span_scores, threshold):
        entries.append(span_scores.scores.size)
        n_tokens.append(span_scores.layout.n_tokens)
        return real_decode(ops, span_scores, threshold)

    monkeypatch.setattr(decoding, "decode", spy)
    monkeypatch.setattr(gp_base, "PREDICT_WINDOW", 50)
    n_labels = len(pipe.labels)
    one_window = layout_cost([50 + pipe.max_length - 1], pipe.max_length, pipe._head.attrs["block_size"])
    budget = 3 * one_window * n_labels  # room for a few windows per call, not all
    monkeypatch.setattr(gp_base, "PREDICT_BATCH_SCORES", budget)
    trained(trained.make_doc(long_text(3000)))
    assert len(entries) > 1
    assert max(entries) <= budget
    assert sum(n_tokens) >= 3000


# ---------------------------------------------------------------------------
# Gold problems


def test_misaligned_gold_warns_with_code_and_doc():
    nlp = spacy.blank("en")
    nlp.add_pipe(PIPE)
    words, spaces = ["New", "York", "is", "big"], [False, True, True, False]
    ref = Doc(nlp.vocab, words=words, spaces=spaces)
    ref.spans["sc"] = [Span(ref, 0, 1, label="LOC"), Span(ref, 3, 4, label="ADJ")]
    eg = Example(nlp.make_doc(ref.text), ref)  # predicted: "NewYork" is one token
    with pytest.warns(UserWarning) as record:
        nlp.initialize(lambda: [eg])
    messages = [str(w.message) for w in record]
    assert any(re.search(r"\[GPW001\].*'New' \(LOC\) in doc 'NewYork is big'", m) for m in messages)
    # The label stays (it is in the data), and the user is told it cannot be learned.
    assert set(nlp.get_pipe(PIPE).labels) == {"LOC", "ADJ"}
    assert any(re.search(r"\[GPW005\].*\['LOC'\].*cannot learn", m) for m in messages)
    nlp.update([eg])  # the misaligned span is skipped, not an error


def test_spacy_rejects_char_offsets_that_do_not_fit():
    # Such gold cannot even be built: spaCy raises before our pipe sees it.
    nlp = spacy.blank("en")
    for spans in ([(0, 5, "LOC")], [(0, 100, "LOC")], [(3, 3, "LOC")]):
        with pytest.raises(ValueError):
            Example.from_dict(nlp.make_doc("New York is big"), {"spans": {"sc": spans}})


def _doc_with_raw_spans(nlp, text, spans, label="LOC"):
    """A reference doc whose span group was read from bytes, as from a damaged
    DocBin: spaCy does not check the offsets when it deserializes."""
    ref = nlp.make_doc(text)
    lab = nlp.vocab.strings.add(label)
    msg = {
        "name": "sc",
        "attrs": {},
        "spans": [struct.pack(">QQQllll", 0, 0, lab, s, e, s, e) for s, e in spans],
    }
    ref.spans["sc"] = SpanGroup(ref).from_bytes(srsly.msgpack_dumps(msg))
    return Example(nlp.make_doc(text), ref)


@pytest.mark.parametrize(
    "spans,problem",
    [
        ([(0, 2), (2, 2)], "empty"),
        ([(0, 2), (3, 100)], "outside the doc"),
        ([(-1, 2)], "outside the doc"),
    ],
)
def test_empty_or_out_of_range_gold_raises_gp008(spans, problem):
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe(PIPE)
    eg = _doc_with_raw_spans(nlp, "北京是中国的首都", spans)
    with pytest.raises(ValueError, match=rf"\[GP008\].*doc '北京是中国的首都' is {problem}"):
        nlp.initialize(lambda: [eg])
    # and at update time, for an initialized pipe
    good = _doc_with_raw_spans(nlp, "北京是中国的首都", [(0, 2)])
    nlp.initialize(lambda: [good])
    with pytest.raises(ValueError, match=r"\[GP008\]"):
        nlp.update([eg])
    assert pipe.labels == ("LOC",)


def test_gold_longer_than_max_length_warns_gpw002():
    nlp = spacy.blank("zh")
    nlp.add_pipe(PIPE, config={"max_length": 2})
    eg = _doc_with_raw_spans(nlp, "阿里巴巴公司在杭州", [(0, 6), (7, 9)], label="ORG")
    match = r"\[GPW002\].*'阿里巴巴公司' \(ORG, 6 tokens\) in doc '阿里巴巴公司在杭州'"
    with pytest.warns(UserWarning, match=match):
        nlp.initialize(lambda: [eg])


# ---------------------------------------------------------------------------
# Damaged model directories


def _damage(path, how):
    pipe_dir = path / PIPE
    model = pipe_dir / "model"
    if how == "truncate_half":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif how == "truncate_empty":
        model.write_bytes(b"")
    elif how == "truncate_10":
        model.write_bytes(model.read_bytes()[:10])
    elif how == "garbage":
        model.write_bytes(os.urandom(4096))
    elif how == "delete_cfg":
        (pipe_dir / "cfg").unlink()
    elif how == "delete_model":
        model.unlink()
    elif how == "bad_cfg_json":
        (pipe_dir / "cfg").write_text("{not json", encoding="utf8")
    elif how == "cfg_other_labels":
        cfg = srsly.read_json(pipe_dir / "cfg")
        cfg["labels"] = cfg["labels"][:-1]
        srsly.write_json(pipe_dir / "cfg", cfg)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "pipeline"
    trained.to_disk(path)
    return path


@pytest.mark.parametrize(
    "how",
    ["truncate_half", "truncate_empty", "truncate_10", "garbage", "delete_cfg",
     "delete_model", "bad_cfg_json", "cfg_other_labels"],
)
def test_damaged_model_directory_raises_gp007(saved, tmp_path, how):
    import shutil

    path = tmp_path / "pipeline"
    shutil.copytree(saved, path)
    _damage(path, how)
    with pytest.raises(ValueError) as excinfo:
        spacy.load(path)
    assert excinfo.type is ValueError
    assert "[GP007]" in str(excinfo.value)
    assert str(path / PIPE) in str(excinfo.value)


@pytest.mark.parametrize("cut", [0, 1, 100, 0.5])
def test_damaged_pipe_bytes_raise_gp007(trained, cut):
    data = trained.get_pipe(PIPE).to_bytes()
    data = data[: int(len(data) * cut)] if isinstance(cut, float) else data[:cut]
    fresh = spacy.blank("zh").add_pipe(PIPE)
    with pytest.raises(ValueError, match=r"\[GP007\].*<bytes>"):
        fresh.from_bytes(data)


# ---------------------------------------------------------------------------
# No lost data


@pytest.fixture
def extensions():
    names = [(Doc, "gp_test_doc"), (Token, "gp_test_token"), (Span, "gp_test_span")]
    for cls, name in names:
        cls.set_extension(name, default=None, force=True)
    yield
    for cls, name in names:
        cls.remove_extension(name)


def test_other_annotations_survive_the_pipe(trained, extensions):
    doc = trained.make_doc(TRAIN[0][0] + TRAIN[1][0])
    other = Span(doc, 2, 5, label="OTHER")
    doc.spans["other"] = [other]
    doc.spans["other"].attrs["note"] = "keep"
    doc.user_data["my_key"] = {"a": [1, 2]}
    doc._.gp_test_doc = "doc-level"
    doc[3]._.gp_test_token = 7
    other._.gp_test_span = "span-level"
    doc.ents = [Span(doc, 0, 2, label="PRESET", kb_id="Q956")]
    doc.cats = {"NEWS": 1.0}
    doc = trained(doc)
    assert [(s.start, s.end, s.label_) for s in doc.spans["other"]] == [(2, 5, "OTHER")]
    assert doc.spans["other"].attrs["note"] == "keep"
    assert doc.user_data["my_key"] == {"a": [1, 2]}
    assert doc._.gp_test_doc == "doc-level"
    assert doc[3]._.gp_test_token == 7
    assert doc.spans["other"][0]._.gp_test_span == "span-level"
    # annotate_ents is off: doc.ents is not touched at all
    assert [(e.start, e.end, e.label_, e.kb_id_) for e in doc.ents] == [(0, 2, "PRESET", "Q956")]
    assert doc.cats == {"NEWS": 1.0}
    assert len(doc.spans["sc"]) > 0


@pytest.mark.parametrize("overwrite", [False, True])
def test_set_annotations_keeps_or_replaces_existing_ents(overwrite):
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe(PIPE, config={"annotate_ents": True, "overwrite_ents": overwrite})
    for label in ("LOC", "PER"):
        pipe.add_label(label)
    doc = nlp.make_doc("北京是中国的首都上海")
    doc.ents = [Span(doc, 0, 2, label="GPE", span_id="bj"), Span(doc, 8, 10, label="GPE")]
    cands = Candidates(
        doc=numpy.zeros(3, dtype="int64"),
        start=numpy.asarray([0, 3, 4]),
        end=numpy.asarray([3, 5, 6]),
        label=numpy.asarray([0, 0, 1]),
        score=numpy.asarray([0.9, 0.8, 0.7], dtype="float32"),
    )
    pipe.set_annotations([doc], cands)
    ents = [(e.start, e.end, e.label_) for e in doc.ents]
    if overwrite:
        # the prediction (0, 3) wins over the preset (0, 2); (8, 10) is untouched
        assert ents == [(0, 3, "LOC"), (3, 5, "LOC"), (8, 10, "GPE")]
    else:
        # preset entities are kept as they are; predictions fill the gaps
        assert ents == [(0, 2, "GPE"), (3, 5, "LOC"), (8, 10, "GPE")]
        assert doc.ents[0].id_ == "bj"
    # doc.spans gets every prediction, overlapping or not
    assert sorted(predictions(doc)) == [(0, 3, "LOC"), (3, 5, "LOC"), (4, 6, "PER")]


def test_entity_ruler_entities_are_kept_by_default(trained):
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "CITY", "pattern": "北京", "id": "beijing"}])
    pipe = nlp.add_pipe(PIPE)
    pipe.from_bytes(trained.get_pipe(PIPE).to_bytes())  # a copy: the fixture stays as it is
    pipe.cfg["annotate_ents"] = True
    doc = nlp(TRAIN[0][0] + TRAIN[1][0])
    ents = {(e.start, e.end): (e.label_, e.ent_id_) for e in doc.ents}
    assert ents[(0, 2)] == ("CITY", "beijing")
    assert any(label != "CITY" for label, _ in ents.values())  # the pipe added its own
    assert (0, 2, "LOC") in predictions(doc)  # ...and still reports its own view in doc.spans
    pipe.cfg["overwrite_ents"] = True
    doc = nlp(TRAIN[0][0] + TRAIN[1][0])
    # a prediction overlaps "北京", so the ruler's entity gives way
    assert all(e.label_ != "CITY" for e in doc.ents)


# ---------------------------------------------------------------------------
# Serialization and determinism

EVAL_TEXTS = [TRAIN[0][0], "", long_text(1500), "😀北京", TRAIN[3][0] + TRAIN[2][0]]


def _exact(doc):
    group = doc.spans["sc"]
    return [(s.start, s.end, s.label_) for s in group], numpy.asarray(group.attrs["scores"])


def _assert_identical(docs_a, docs_b):
    for a, b in zip(docs_a, docs_b):
        spans_a, scores_a = _exact(a)
        spans_b, scores_b = _exact(b)
        assert spans_a == spans_b
        numpy.testing.assert_array_equal(scores_a, scores_b)


def test_save_load_bytes_and_multiprocessing_give_identical_output(trained, saved):
    # Same batches everywhere: a doc's scores may differ in the last bit
    # between batch compositions (BLAS sums in another order), not otherwise.
    reference = list(trained.pipe(EVAL_TEXTS, batch_size=2))
    assert sum(len(d.spans["sc"]) for d in reference) > 0
    loaded = spacy.load(saved)
    _assert_identical(reference, list(loaded.pipe(EVAL_TEXTS, batch_size=2)))
    fresh = spacy.blank("zh")
    fresh.add_pipe(PIPE)
    fresh.from_bytes(trained.to_bytes())
    _assert_identical(reference, list(fresh.pipe(EVAL_TEXTS, batch_size=2)))
    _assert_identical(reference, list(loaded.pipe(EVAL_TEXTS, n_process=2, batch_size=2)))
    # One doc at a time: the same spans, scores equal up to float rounding.
    for doc, text in zip(reference, EVAL_TEXTS):
        assert_same_predictions(predictions(loaded(text)), predictions(doc), loaded.get_pipe(PIPE).cfg["threshold"])


def test_same_seed_gives_the_same_model():
    a = train_pipeline(steps=3).get_pipe(PIPE)
    b = train_pipeline(steps=3).get_pipe(PIPE)
    assert a._head.to_bytes() == b._head.to_bytes()
    assert a.model.to_bytes() == b.model.to_bytes()
    c = train_pipeline(steps=4).get_pipe(PIPE)
    assert c._head.to_bytes() != a._head.to_bytes()
