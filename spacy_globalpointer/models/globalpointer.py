"""The GlobalPointer span-scoring heads as Thinc layers.

Both heads map a list of token-vector matrices (one per doc) to `SpanScores`:
one logit per (span, type) for every span of at most `max_length` tokens.

- GlobalPointer: per-type q/k projections, s_a(i, j) = q_{i,a}^T R_{j-i} k_{j,a} / sqrt(d).
- Efficient GlobalPointer: one shared q/k projection plus a per-type start and
  end term computed from it, s_a(i, j) = q_i^T R_{j-i} k_j / sqrt(d) + u_a(i) + v_a(j).

All array work goes through `model.ops` and its array module, so the same code
runs on numpy (CPU) and cupy (GPU). Scores are computed block by block (see
`layout.py`), so memory is linear in the number of tokens.
"""
import math
from typing import Callable, List, Optional, Tuple

import numpy
from thinc.api import Model
from thinc.initializers import zero_init
from thinc.types import Floats2d

from ..errors import Errors
from .layout import DEFAULT_BLOCK_SIZE, BlockLayout, make_layout
from .types import MASK_VALUE, GPHeadT, SpanScores, is_real_number

ROPE_BASE = 10000.0
# Initial value of the per-type score offset. With a zero offset an untrained
# head gives about half of all n(n+1)/2 spans a probability above 0.5, which
# makes the first evaluation of a training run crawl through millions of
# spans. sigmoid(-8) ~ 3e-4 starts the head near "no entity" instead; the
# offset is learned like any bias.
INITIAL_SCORE_OFFSET = -8.0
# The initial weights do not depend on the number of entity types. Glorot
# initialisation of the stacked (2 * head_size * nO, nI) projection would
# shrink every type's q/k weights as types are added: an untrained head with
# one type gave logits of sd ~4.5 (3-10% of all spans above 0.5 despite the
# offset), with 30 types sd ~0.24, so even the starting point of training
# depended on the label count. Instead every type's block (and the Efficient
# head's shared projection) is drawn from the Glorot range of a projection
# to INIT_TYPES types, the scale the head had at the label counts the CPU
# defaults were tuned with (6-12 types): untrained logits of sd ~0.8 on the
# default tok2vec for any number of types, so an untrained head predicts
# nothing. (The Efficient head's per-type terms start at zero, see `init`.)
INIT_TYPES = 8


def GlobalPointerHead(
    nO: Optional[int] = None,
    nI: Optional[int] = None,
    *,
    head_size: int = 64,
    use_rope: bool = True,
    max_length: Optional[int] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    efficient: bool = False,
    dropout: Optional[float] = 0.0,
    learn_rate_scale: float = 1.0,
) -> GPHeadT:
    """Build a GlobalPointer head (per-type projections) or, with
    `efficient=True`, an Efficient GlobalPointer head (shared projection).

    nO (Optional[int]): number of entity types; inferred at initialize if None.
    nI (Optional[int]): width of the token vectors; inferred from the input.
    head_size (int): size d of the q and k vectors (even with RoPE).
    use_rope (bool): apply rotary position embeddings to q and k.
    max_length (Optional[int]): longest span in tokens to score; None = all.
    block_size (int): span starts per block of the layout (memory/speed knob).
    efficient (bool): use the Efficient GlobalPointer parametrisation.
    dropout (Optional[float]): dropout on the q/k projections in training; null
        follows `[training] dropout` (as spaCy's own layers do).
    learn_rate_scale (float): the head's learning rate as a multiple of the
        optimizer's (applied by the pipe's `finish_update`); 1.0 trains the
        head at the encoder's rate.
    RETURNS (Model[List[Floats2d], SpanScores]): the head.
    """
    if isinstance(head_size, bool) or not isinstance(head_size, int) or head_size <= 0:
        raise ValueError(Errors.GP005.format(value=head_size))
    if use_rope and head_size % 2 != 0:
        raise ValueError(Errors.GP013.format(value=head_size))
    if not _is_positive_number(learn_rate_scale):
        raise ValueError(Errors.GP030.format(value=learn_rate_scale))
    params = {"W": None, "b": None, "b_score": None}
    if efficient:
        params.update({"W_bias": None, "b_bias": None})
    return Model(
        "efficient_global_pointer" if efficient else "global_pointer",
        forward,
        init=init,
        dims={"nO": nO, "nI": nI},
        params=params,
        attrs={
            "head_size": head_size,
            "use_rope": use_rope,
            "max_length": max_length,
            "block_size": block_size,
            "efficient": efficient,
            "dropout": dropout,
            "learn_rate_scale": float(learn_rate_scale),
            # Set by thinc's set_dropout_rate (`spacy train`); used when dropout is null.
            "dropout_rate": 0.0,
        },
    )


def _is_positive_number(value) -> bool:
    """A finite real above 0 (numpy floats included, bools not)."""
    return is_real_number(value) and math.isfinite(value) and value > 0


def init(
    model: Model, X: Optional[List[Floats2d]] = None, Y: Optional[SpanScores] = None
) -> None:
    if X is not None and model.has_dim("nI") is None:
        widths = [x.shape[1] for x in X if x.ndim == 2]
        if widths:
            model.set_dim("nI", widths[0])
    if Y is not None and model.has_dim("nO") is None:
        model.set_dim("nO", Y.n_labels)
    nI, nO = model.get_dim("nI"), model.get_dim("nO")
    d = model.attrs["head_size"]
    n_proj = 2 * d if model.attrs["efficient"] else 2 * d * nO
    model.set_param("W", _uniform_init(model.ops, (n_proj, nI), fan=nI + 2 * d * INIT_TYPES))
    model.set_param("b", zero_init(model.ops, (n_proj,)))
    b_score = model.ops.alloc1f(nO)
    b_score += INITIAL_SCORE_OFFSET
    model.set_param("b_score", b_score)
    if model.attrs["efficient"]:
        # The per-type start and end terms start at zero, like an output
        # layer: their gradient reads the shared projection, so they learn from
        # the first step, and the untrained logits are the q.k term alone.
        model.set_param("W_bias", zero_init(model.ops, (2 * nO, 2 * d)))
        model.set_param("b_bias", zero_init(model.ops, (2 * nO,)))


def _uniform_init(ops, shape, *, fan: int):
    """Uniform weights in the Glorot range sqrt(6 / fan), with `fan` (fan in
    plus fan out) given rather than read off the shape, drawn from numpy's
    global generator like thinc's initializers (seeded by fix_random_seed)."""
    limit = numpy.sqrt(6.0 / fan)
    return ops.asarray_f(numpy.random.uniform(-limit, limit, shape))


def forward(
    model: Model, Xs: List[Floats2d], is_train: bool
) -> Tuple[SpanScores, Callable]:
    ops = model.ops
    xp = ops.xp
    nI, nO = model.get_dim("nI"), model.get_dim("nO")
    d = model.attrs["head_size"]
    efficient = model.attrs["efficient"]
    lengths = [x.shape[0] for x in Xs]
    layout = make_layout(lengths, model.attrs["max_length"], model.attrs["block_size"])
    for x in Xs:
        if x.shape[0] and x.shape[1] != nI:
            raise ValueError(Errors.GP006.format(got=x.shape[1], expected=nI, name=model.name))
    W, b = model.get_param("W"), model.get_param("b")
    if layout.n_blocks == 0:
        # Only empty docs: no span to score.
        C, K = layout.block_size, layout.key_width
        scores = ops.alloc4f(0, nO, C, K)
        mask = xp.zeros((0, 1, C, K), dtype="bool")

        def backprop_empty(dY: SpanScores) -> List[Floats2d]:
            return [ops.alloc2f(n, nI) for n in lengths]

        return SpanScores(scores, mask, layout), backprop_empty

    n_heads = 1 if efficient else nO
    hd = n_heads * d  # width of the queries (and of the keys) of all heads
    use_rope = model.attrs["use_rope"]
    # With RoPE the projection is computed with its outputs reordered so that
    # each rotated pair (k, k + d/2) of a head is adjacent: a complex view then
    # rotates all of them in one in-place pass. Dot products do not depend on
    # the order of dimensions, so the scores are those of the stored weights.
    perm = ops.asarray(_pair_order(2 * n_heads, d)) if use_rope else None
    Wp, bp = (W[perm], b[perm]) if use_rope else (W, b)
    X = ops.flatten(Xs)  # (n_tokens, nI)
    P = ops.gemm(X, Wp, trans2=True)  # (n_tokens, 2 * hd): queries, then keys
    P += bp
    drop = _dropout_mask(model, P.shape) if is_train else None
    if drop is not None:
        P *= drop
    # The Efficient head's start/end terms read the projection before RoPE.
    R = P.copy() if efficient else P
    scale = 1.0 / numpy.sqrt(d)
    rope = _token_rope(ops, layout, d, scale) if use_rope else None
    _position_and_scale(xp, R, hd, d, rope, scale)
    rows = ops.asarray(layout.token_rows())
    buf = ops.alloc2f(layout.n_buffer_rows, 2 * hd, dtype=P.dtype)
    buf[rows] = R
    Q = _query_view(buf[:, :hd], layout, n_heads, d)  # (n_blocks, n_heads, C, d)
    Kw = _key_windows(xp, buf[:, hd:], layout, n_heads, d)  # (n_blocks, n_heads, K, d)
    S = xp.matmul(Q, Kw.transpose(0, 1, 3, 2))  # (n_blocks, n_heads, C, K)
    if efficient:
        W_bias, b_bias = model.get_param("W_bias"), model.get_param("b_bias")
        W_bias_p = W_bias[:, perm] if use_rope else W_bias
        bias = ops.gemm(P, W_bias_p, trans2=True)  # (n_tokens, 2 * nO): start, end terms
        bias += b_bias
        bias_buf = ops.alloc2f(layout.n_buffer_rows, 2 * nO, dtype=P.dtype)
        bias_buf[rows] = bias
        start_term = _query_view(bias_buf[:, :nO], layout, nO, 1)  # (n_blocks, nO, C, 1)
        end_term = _key_windows(xp, bias_buf[:, nO:], layout, nO, 1).transpose(0, 1, 3, 2)
        S = S + start_term + end_term  # (n_blocks, nO, C, K)
    S += model.get_param("b_score")[None, :, None, None]
    mask = ops.asarray(layout.valid_mask())
    xp.copyto(S, xp.asarray(MASK_VALUE, dtype=S.dtype), where=~mask)

    def backprop(dY: SpanScores) -> List[Floats2d]:
        dS = xp.where(mask, dY.scores, 0).astype(P.dtype, copy=False)
        model.inc_grad("b_score", dS.sum(axis=(0, 2, 3)))
        dP = None
        if efficient:
            # The start term is added along rows, the end term along columns.
            d_bias_buf = ops.alloc2f(layout.n_buffer_rows, 2 * nO, dtype=P.dtype)
            _add_to_queries(d_bias_buf[:, :nO], dS.sum(axis=3)[..., None], layout)
            _add_to_key_windows(d_bias_buf[:, nO:], dS.sum(axis=2)[..., None], layout)
            d_bias = d_bias_buf[rows]
            model.inc_grad("W_bias", _unpermute(ops, ops.gemm(d_bias, P, trans1=True), perm, axis=1))
            model.inc_grad("b_bias", d_bias.sum(axis=0))
            dP = ops.gemm(d_bias, W_bias_p)
            dS = dS.sum(axis=1, keepdims=True)
        d_buf = ops.alloc2f(layout.n_buffer_rows, 2 * hd, dtype=P.dtype)
        _add_to_queries(d_buf[:, :hd], xp.matmul(dS, Kw), layout)
        _add_to_key_windows(d_buf[:, hd:], xp.matmul(dS.transpose(0, 1, 3, 2), Q), layout)
        del dS  # the largest array of the backward pass; free it early
        dR = d_buf[rows]
        # The inverse rotation (and the same scale) maps dR back to dP.
        _position_and_scale(xp, dR, hd, d, None if rope is None else rope.conj(), scale)
        dP = dR if dP is None else dP + dR
        if drop is not None:
            dP *= drop
        model.inc_grad("W", _unpermute(ops, ops.gemm(dP, X, trans1=True), perm, axis=0))
        model.inc_grad("b", _unpermute(ops, dP.sum(axis=0), perm, axis=0))
        dX = ops.gemm(dP, Wp)
        return ops.unflatten(dX, ops.asarray1i(lengths))

    return SpanScores(S, mask, layout), backprop


def _dropout_mask(model: Model, shape):
    """The dropout mask of the projections for one training step, or None.
    The rate is the architecture's `dropout`, or, when that is null, the
    rate `spacy train` sets from `[training] dropout`."""
    rate = model.attrs["dropout"]
    if rate is None:
        rate = model.attrs.get("dropout_rate") or 0.0
    return model.ops.get_dropout_mask(shape, rate) if rate > 0 else None


def _pair_order(n_vectors: int, d: int) -> numpy.ndarray:
    """Row order of the projection that puts each RoPE pair of a vector,
    dimensions (k, k + d/2), side by side: new row v*d + 2k + r is old row
    v*d + r*d/2 + k."""
    v, k, r = numpy.meshgrid(numpy.arange(n_vectors), numpy.arange(d // 2), numpy.arange(2), indexing="ij")
    return (v * d + r * (d // 2) + k).reshape(-1)


def _unpermute(ops, grad, perm, axis: int):
    """The gradient of weights used as `W[perm]` (axis 0) or `W[:, perm]`."""
    if perm is None:
        return grad
    out = ops.xp.empty_like(grad)
    if axis == 0:
        out[perm] = grad
    else:
        out[:, perm] = grad
    return out


def _token_rope(ops, layout: BlockLayout, d: int, scale: float):
    """exp(i * position * frequency) per token and frequency, as complex
    numbers (n_tokens, 2, 1, d // 2): the keys' rotation, and the queries'
    rotation times `scale`. Positions count from each doc's first token
    (RoPE scores only depend on j - i)."""
    longest = max(int(layout.lengths.max()) if layout.lengths.size else 0, 1)
    half = d // 2
    inv_freq = ROPE_BASE ** (-numpy.arange(half, dtype="float64") / half)
    angles = numpy.arange(longest, dtype="float64")[:, None] * inv_freq[None, :]
    table = numpy.exp(1j * angles)[layout.token_positions()]  # (n_tokens, d/2)
    both = numpy.stack([table * scale, table], axis=1)[:, :, None, :]
    return ops.asarray(both.astype("complex64"))


def _position_and_scale(xp, A, hd: int, d: int, rope, scale: float) -> None:
    """In place on A (n_tokens, 2 * hd), queries then keys, with each head's
    RoPE pairs side by side (see `_pair_order`): rotate every head's q and k
    by their token's angles and scale the queries by `scale`, so that the span
    scores need no extra pass; without `rope`, only scale the queries."""
    n, n_heads = A.shape[0], hd // d
    if rope is None:
        A[:, :hd] *= scale
        return
    # A is contiguous: pairs of floats are complex numbers, queries' and keys'
    # heads are (n, 2, n_heads, d/2) complex views, rotated in one pass.
    pairs = A.view("complex64" if A.dtype == numpy.float32 else "complex128")
    pairs.reshape(n, 2, n_heads, d // 2)[...] *= rope


def _query_view(buf, layout: BlockLayout, n_heads: int, d: int):
    """(n_blocks, n_heads, C, d) view of the queries of every block."""
    n_blocks, C = layout.n_blocks, layout.block_size
    return buf[: n_blocks * C].reshape(n_blocks, C, n_heads, d).transpose(0, 2, 1, 3)


def _key_windows(xp, buf, layout: BlockLayout, n_heads: int, d: int):
    """(n_blocks, n_heads, K, d) view of the keys each block is scored
    against: rows b*C .. b*C + K - 1 of the buffer. The windows of
    neighbouring blocks overlap; no data is copied."""
    n_blocks, C, K = layout.n_blocks, layout.block_size, layout.key_width
    row_stride, item = buf.strides[0], buf.strides[1]
    return xp.lib.stride_tricks.as_strided(
        buf, shape=(n_blocks, n_heads, K, d), strides=(C * row_stride, d * item, row_stride, item)
    )


def _add_to_queries(buf, dQ, layout: BlockLayout) -> None:
    """Add the gradient of the query view, (n_blocks, heads, C, d), into buf."""
    n_blocks, C = layout.n_blocks, layout.block_size
    n_heads, d = dQ.shape[1], dQ.shape[3]
    buf[: n_blocks * C] += dQ.transpose(0, 2, 1, 3).reshape(n_blocks * C, n_heads * d)


def _add_to_key_windows(buf, dK, layout: BlockLayout) -> None:
    """Add the gradient of the overlapping key windows, (n_blocks, heads, K, d),
    into buf: window b's slice o (keys o*C .. o*C + C - 1) lies on the rows of
    block b + o, so each slice is added to the buffer shifted by o blocks."""
    n_blocks, C = layout.n_blocks, layout.block_size
    n_heads, d = dK.shape[1], dK.shape[3]
    rows = dK.transpose(0, 2, 1, 3).reshape(n_blocks, layout.key_width, n_heads * d)
    for o in range(layout.n_key_blocks):
        part = rows[:, o * C : (o + 1) * C].reshape(n_blocks * C, n_heads * d)
        buf[o * C : o * C + n_blocks * C] += part
