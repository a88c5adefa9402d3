"""The GlobalPointer heads (`models/globalpointer.py`), checked against the
dense n x n scores of the papers and against finite differences."""
import numpy
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from thinc.api import NumpyOps, fix_random_seed

from spacy_globalpointer.models import GlobalPointerHead, SpanScores
from spacy_globalpointer.models.globalpointer import ROPE_BASE
from spacy_globalpointer.models.types import MASK_VALUE

from ..strategies import n_spans

N_LABELS, WIDTH, D = 3, 5, 4
LENGTHS = (0, 3, 11, 9)


def make_inputs(seed=0, lengths=LENGTHS):
    rng = numpy.random.default_rng(seed)
    return [rng.normal(size=(n, WIDTH)).astype("float32") for n in lengths]


def make_head(efficient=False, use_rope=True, max_length=5, block_size=4):
    fix_random_seed(0)
    head = GlobalPointerHead(
        nO=N_LABELS, nI=WIDTH, head_size=D, max_length=max_length,
        block_size=block_size, efficient=efficient, use_rope=use_rope,
    )
    head.initialize(X=make_inputs())
    return head


def _rope(x, positions):
    half = x.shape[-1] // 2
    inv_freq = ROPE_BASE ** (-numpy.arange(half, dtype="float64") / half)
    ang = positions[:, None] * inv_freq[None, :]
    a1, a2 = x[:, :half], x[:, half:]
    cos, sin = numpy.cos(ang), numpy.sin(ang)
    return numpy.concatenate([a1 * cos - a2 * sin, a1 * sin + a2 * cos], 1)


def dense_reference(head, X):
    """The n x n scores of one doc, all (type, i, j), as the GlobalPointer
    papers define them, straight from the params (in float64), plus the
    learned per-type offset."""
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


@pytest.mark.parametrize("efficient", [False, True])
@pytest.mark.parametrize("use_rope", [True, False])
def test_blocked_scores_equal_dense_formula(efficient, use_rope):
    head = make_head(efficient=efficient, use_rope=use_rope)
    Xs = make_inputs()
    out = head.predict(Xs)
    layout = out.layout
    n_scored = 0
    for doc, X in enumerate(Xs):
        dense = dense_reference(head, X)
        for i in range(X.shape[0]):
            for j in range(i, min(X.shape[0], i + 5)):
                block, row, col, ok = layout.position([doc], [i], [j + 1])
                assert ok[0]
                got = out.scores[block[0], :, row[0], col[0]]
                numpy.testing.assert_allclose(got, dense[:, i, j], atol=1e-4)
                n_scored += 1
    # Exactly the spans with j - i < max_length are scored; the rest are masked.
    assert int(out.mask.sum()) == n_scored
    assert (out.scores[numpy.broadcast_to(~out.mask, out.scores.shape)] == -1e4).all()


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
@example(list(LENGTHS), 5, 4, False, 1)
@example(list(LENGTHS), 5, 4, True, 1)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_head_gradient_matches_finite_differences(
    dtype, lengths, max_length, block_size, efficient, seed
):
    """dX of the head against central differences of every input entry: in
    float64 (without BLIS, whose gemm is float32 only) tightly, and in
    float32 with the default ops and a step that float32 resolves."""
    head = GlobalPointerHead(
        nO=2, nI=4, head_size=4, max_length=max_length, block_size=block_size, efficient=efficient
    )
    head.initialize()
    rng = numpy.random.default_rng(seed)
    Xs = [rng.normal(size=(n, 4)).astype(dtype) for n in lengths]
    if dtype == "float64":
        head.ops = NumpyOps(use_blis=False)
        for name in head.param_names:
            head.set_param(name, head.get_param(name).astype("float64"))
    out, backprop = head.begin_update(Xs)
    R = rng.normal(size=out.scores.shape)

    def f(Xs_):
        s = head.predict(Xs_)
        return float((numpy.where(s.mask, s.scores, 0).astype("float64") * R).sum())

    dXs = backprop(SpanScores(R.astype(dtype), out.mask, out.layout))
    assert [d.shape for d in dXs] == [x.shape for x in Xs]
    eps = 1e-5 if dtype == "float64" else 1e-2
    for i, X in enumerate(Xs):
        for idx in numpy.ndindex(*X.shape):
            up = [x.copy() for x in Xs]
            down = [x.copy() for x in Xs]
            up[i][idx] += eps
            down[i][idx] -= eps
            numeric = (f(up) - f(down)) / (2 * eps)
            if dtype == "float64":
                assert dXs[i][idx] == pytest.approx(numeric, rel=1e-3, abs=1e-3)
            else:
                assert abs(numeric - dXs[i][idx]) < 2e-2 * max(1.0, abs(numeric))


def test_rope_scores_depend_on_distance_not_position():
    """With the same vector at every position, s(i, j) is a function of j - i
    alone, also across block boundaries; without RoPE it is constant."""
    head = make_head(max_length=6, block_size=4)
    x = numpy.random.default_rng(2).normal(size=(1, WIDTH)).astype("float32")
    out = head.predict([numpy.repeat(x, 20, axis=0)])
    by_distance = {}
    for i in range(20):
        for j in range(i, min(20, i + 6)):
            block, row, col, _ = out.layout.position([0], [i], [j + 1])
            by_distance.setdefault(j - i, []).append(out.scores[block[0], :, row[0], col[0]])
    for distance, values in by_distance.items():
        numpy.testing.assert_allclose(numpy.stack(values), numpy.stack(values)[:1].repeat(len(values), 0), atol=1e-4)
    # ... and it does vary with the distance.
    assert not numpy.allclose(by_distance[0][0], by_distance[3][0], atol=1e-3)

    flat = make_head(use_rope=False, max_length=6, block_size=4)
    out = flat.predict([numpy.repeat(x, 20, axis=0)])
    values = out.scores.transpose(0, 2, 3, 1)[out.mask[:, 0]]
    numpy.testing.assert_allclose(values, values[:1].repeat(len(values), 0), atol=1e-4)


def test_empty_and_single_token_inputs():
    head = make_head()
    out, backprop = head.begin_update([numpy.zeros((0, WIDTH), dtype="float32")] * 3)
    assert out.scores.shape[0] == 0 and out.layout.n_blocks == 0
    assert [d.shape for d in backprop(out)] == [(0, WIDTH)] * 3
    out = head.predict([numpy.ones((1, WIDTH), dtype="float32")])
    assert int(out.mask.sum()) == 1


def test_untrained_head_predicts_no_spans_and_learns_its_offset():
    """The per-type score offset starts at INITIAL_SCORE_OFFSET, so an untrained
    head predicts (almost) nothing; its gradient is the summed span gradient."""
    head = make_head()
    Xs = make_inputs()
    out, backprop = head.begin_update(Xs)
    probabilities = 1 / (1 + numpy.exp(-out.scores[numpy.broadcast_to(out.mask, out.scores.shape)]))
    assert (probabilities < 0.5).all()
    G = numpy.random.default_rng(3).normal(size=out.scores.shape).astype("float32")
    backprop(SpanScores(G, out.mask, out.layout))
    expected = numpy.where(out.mask, G, 0).sum(axis=(0, 2, 3))
    numpy.testing.assert_allclose(head.get_grad("b_score"), expected, rtol=1e-5)


@pytest.mark.parametrize("efficient", [False, True], ids=["globalpointer", "efficient"])
def test_untrained_logit_scale_does_not_depend_on_the_label_count(efficient):
    """Every type's q/k weights come from the same range whatever the number
    of types (Glorot over the stacked projection made one type's logits 18x
    larger than 30 types'), and the Efficient head's per-type terms start at
    zero: the untrained logits have the same spread for 1, 2, 10 and 30 types."""
    rng = numpy.random.default_rng(0)
    Xs = [rng.normal(size=(n, 96)).astype("float32") for n in (40, 25)]
    spreads = {}
    for n_labels in (1, 2, 10, 30):
        fix_random_seed(0)
        head = GlobalPointerHead(nO=n_labels, nI=96, head_size=64, efficient=efficient)
        head.initialize(X=Xs)
        out = head.predict(Xs)
        valid = out.scores[numpy.broadcast_to(out.mask, out.scores.shape)]
        spreads[n_labels] = float(valid.std())
        # Far below the -8 offset's distance from 0: no span near p = 0.5.
        assert valid.max() < -4, (n_labels, valid.max())
    assert max(spreads.values()) / min(spreads.values()) < 1.3, spreads


@pytest.mark.parametrize("efficient", [False, True])
@pytest.mark.parametrize("use_rope", [True, False])
def test_head_parameter_gradients_match_finite_differences(efficient, use_rope):
    """Every parameter's gradient, in float64: W and b are used with their
    rows reordered for RoPE, so their gradients must be mapped back."""
    from thinc.api import NumpyOps

    head = make_head(efficient=efficient, use_rope=use_rope)
    head.ops = NumpyOps(use_blis=False)  # BLIS gemm is float32 only
    rng = numpy.random.default_rng(6)
    for name in head.param_names:
        param = head.get_param(name).astype("float64")
        if not param.any():
            # Zero-initialised weights (the Efficient head's W_bias) would
            # hide the gradient paths that go through them.
            param = rng.normal(scale=0.3, size=param.shape)
        head.set_param(name, param)
    Xs = [x.astype("float64") for x in make_inputs()]
    out, backprop = head.begin_update(Xs)
    G = numpy.random.default_rng(4).normal(size=out.scores.shape)
    backprop(SpanScores(G, out.mask, out.layout))

    def objective():
        o = head.predict(Xs)
        return float(numpy.where(o.mask, o.scores, 0).ravel() @ G.ravel())

    rng = numpy.random.default_rng(5)
    eps = 1e-6
    for name in head.param_names:
        param, grad = head.get_param(name), head.get_grad(name)
        for flat in rng.choice(param.size, size=min(6, param.size), replace=False):
            index = numpy.unravel_index(flat, param.shape)
            original = param[index]
            param[index] = original + eps
            up = objective()
            param[index] = original - eps
            down = objective()
            param[index] = original
            assert grad[index] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-6), name


def test_head_dropout():
    """Dropout on the q/k projections: only when training, at the fixed rate
    of the architecture, or at `[training] dropout` when that is null."""
    from thinc.api import set_dropout_rate

    fix_random_seed(0)
    head = GlobalPointerHead(nO=N_LABELS, nI=WIDTH, head_size=D, max_length=5, dropout=0.5)
    head.initialize(X=make_inputs())
    Xs = make_inputs()
    first, _ = head.begin_update(Xs)
    second, _ = head.begin_update(Xs)
    assert not numpy.allclose(first.scores, second.scores)
    numpy.testing.assert_array_equal(head.predict(Xs).scores, head.predict(Xs).scores)
    set_dropout_rate(head, 0.0)  # a fixed rate ignores the training setting
    third, _ = head.begin_update(Xs)
    assert not numpy.allclose(third.scores, head.predict(Xs).scores)

    follows = GlobalPointerHead(nO=N_LABELS, nI=WIDTH, head_size=D, max_length=5, dropout=None)
    follows.initialize(X=Xs)
    set_dropout_rate(follows, 0.0)
    numpy.testing.assert_allclose(follows.begin_update(Xs)[0].scores, follows.predict(Xs).scores)
    set_dropout_rate(follows, 0.3)
    assert not numpy.allclose(follows.begin_update(Xs)[0].scores, follows.predict(Xs).scores)
