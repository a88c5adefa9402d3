"""The GlobalPointer heads and the loss, checked against direct computations."""
import numpy
import pytest
from thinc.api import fix_random_seed

from spacy_globalpointer.ner.loss import multilabel_categorical_crossentropy, mlcce_rowwise
from spacy_globalpointer.models import GlobalPointerHead, SpanScores, make_layout
from spacy_globalpointer.models.globalpointer import ROPE_BASE

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


def dense_scores(head, X):
    """The paper's formula for one doc, all (type, i, j), straight from the
    params, plus the learned per-type offset."""
    n = X.shape[0]
    efficient = head.attrs["efficient"]
    heads = 1 if efficient else N_LABELS
    P = X @ head.get_param("W").T + head.get_param("b")
    q = P[:, : heads * D].reshape(n, heads, D)
    k = P[:, heads * D :].reshape(n, heads, D)
    if head.attrs["use_rope"]:
        half = D // 2
        angles = numpy.arange(n)[:, None] * ROPE_BASE ** (-numpy.arange(half) / half)[None, :]
        cos, sin = numpy.cos(angles)[:, None, :], numpy.sin(angles)[:, None, :]

        def rotate(a):
            a1, a2 = a[..., : D // 2], a[..., D // 2 :]
            return numpy.concatenate([a1 * cos - a2 * sin, a1 * sin + a2 * cos], axis=-1)

        q, k = rotate(q), rotate(k)
    S = numpy.einsum("iad,jad->aij", q, k) / numpy.sqrt(D)
    if efficient:
        bias = P @ head.get_param("W_bias").T + head.get_param("b_bias")
        S = S + bias[:, :N_LABELS].T[:, :, None] + bias[:, N_LABELS:].T[:, None, :]
    return S + head.get_param("b_score")[:, None, None]


@pytest.mark.parametrize("efficient", [False, True])
@pytest.mark.parametrize("use_rope", [True, False])
def test_blocked_scores_equal_dense_formula(efficient, use_rope):
    head = make_head(efficient=efficient, use_rope=use_rope)
    Xs = make_inputs()
    out = head.predict(Xs)
    layout = out.layout
    n_scored = 0
    for doc, X in enumerate(Xs):
        dense = dense_scores(head, X)
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


@pytest.mark.parametrize("efficient", [False, True])
def test_head_gradient_matches_finite_differences(efficient):
    head = make_head(efficient=efficient)
    Xs = make_inputs()
    out, backprop = head.begin_update(Xs)
    rng = numpy.random.default_rng(1)
    G = rng.normal(size=out.scores.shape).astype("float32")
    dXs = backprop(SpanScores(G, out.mask, out.layout))
    assert [d.shape for d in dXs] == [x.shape for x in Xs]

    def objective(inputs):
        o = head.predict(inputs)
        return float(numpy.where(o.mask, o.scores, 0).astype("float64").ravel() @ G.ravel())

    eps = 1e-2
    for doc, i, j in [(1, 0, 0), (2, 3, 2), (2, 10, 4), (3, 8, 1)]:
        plus = [x.copy() for x in Xs]
        minus = [x.copy() for x in Xs]
        plus[doc][i, j] += eps
        minus[doc][i, j] -= eps
        numeric = (objective(plus) - objective(minus)) / (2 * eps)
        assert abs(numeric - dXs[doc][i, j]) < 2e-2 * max(1.0, abs(numeric))


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


def test_layout_memory_is_linear_and_short_docs_are_not_padded():
    # One long doc and many short ones: the score tensor holds
    # n_tokens x key_width entries per label, not n_docs x longest^2.
    layout = make_layout([10_000] + [5] * 100, max_length=32, block_size=32)
    entries = layout.n_blocks * layout.block_size * layout.key_width
    # At most one partly filled block per doc, each scored against 2 blocks of keys.
    assert entries <= (10_000 + 100 * 5 + 101 * 32) * 2 * 32
    assert entries < 0.01 * 101 * 10_000**2
    assert layout.max_length == 32
    # Short batches use one block per doc, i.e. the classic dense matrix.
    layout = make_layout([7, 5, 3], max_length=None)
    assert (layout.block_size, layout.n_key_blocks, layout.max_length) == (7, 1, 7)


def test_loss_gradient_matches_finite_differences():
    rng = numpy.random.default_rng(0)
    scores = rng.normal(size=(5, 2, 7)) * 3
    targets = rng.random((5, 2, 7)) < 0.3
    mask = rng.random((5, 1, 7)) < 0.8
    lengths = numpy.array([2, 0, 3])  # segments of rows; the middle one is empty
    loss, grad = multilabel_categorical_crossentropy(scores, targets, mask, lengths)
    assert loss.shape == (3, 2) and (loss[1] == 0).all()
    eps = 1e-6
    numeric = numpy.zeros_like(scores)
    for index in numpy.ndindex(scores.shape):
        plus, minus = scores.copy(), scores.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (
            multilabel_categorical_crossentropy(plus, targets, mask, lengths)[0].sum()
            - multilabel_categorical_crossentropy(minus, targets, mask, lengths)[0].sum()
        ) / (2 * eps)
    numpy.testing.assert_allclose(grad, numeric, atol=1e-6)
    assert (grad[~numpy.broadcast_to(mask, grad.shape)] == 0).all()


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


def test_group_by_geometry():
    from spacy_globalpointer.models.layout import group_by_geometry, layout_cost

    lengths = [300, 12, 14, 11, 290, 0, 13]
    groups = group_by_geometry(lengths, max_length=64, block_size=64, overhead=512)
    # A partition of the docs, shortest first.
    assert sorted(numpy.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in groups[0]] == [0, 11, 12, 13, 14]
    assert sorted(lengths[i] for i in groups[-1]) == [290, 300]
    together = layout_cost(lengths, 64, 64)
    apart = sum(layout_cost([lengths[i] for i in g], 64, 64) for g in groups)
    assert apart + 512 * (len(groups) - 1) < together
    # A high call overhead keeps everything in one call; a budget splits it.
    assert len(group_by_geometry(lengths, 64, 64, overhead=10**9)) == 1
    budget = layout_cost([300], 64, 64)
    for group in group_by_geometry(lengths, 64, 64, overhead=10**9, max_entries=budget):
        assert layout_cost([lengths[i] for i in group], 64, 64) <= budget or len(group) == 1


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
    from thinc.api import NumpyOps

    from spacy_globalpointer.ner.loss import boundary_smoothed_targets

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
