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
from typing import Callable, List, Optional, Tuple

import numpy
from thinc.api import Model
from thinc.initializers import glorot_uniform_init, zero_init
from thinc.types import Floats2d

from ..errors import Errors
from .layout import DEFAULT_BLOCK_SIZE, BlockLayout, make_layout
from .types import MASK_VALUE, GPHeadT, SpanScores

ROPE_BASE = 10000.0
# Initial value of the per-type score offset. With a zero offset an untrained
# head gives about half of all n(n+1)/2 spans a probability above 0.5, which
# makes the first evaluation of a training run crawl through millions of
# spans. sigmoid(-8) ~ 3e-4 starts the head near "no entity" instead; the
# offset is learned like any bias.
INITIAL_SCORE_OFFSET = -8.0


def GlobalPointerHead(
    nO: Optional[int] = None,
    nI: Optional[int] = None,
    *,
    head_size: int = 64,
    use_rope: bool = True,
    max_length: Optional[int] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    efficient: bool = False,
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
    RETURNS (Model[List[Floats2d], SpanScores]): the head.
    """
    if isinstance(head_size, bool) or not isinstance(head_size, int) or head_size <= 0:
        raise ValueError(Errors.GP005.format(value=head_size))
    if use_rope and head_size % 2 != 0:
        raise ValueError(Errors.GP013.format(value=head_size))
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
        },
    )


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
    model.set_param("W", glorot_uniform_init(model.ops, (n_proj, nI)))
    model.set_param("b", zero_init(model.ops, (n_proj,)))
    b_score = model.ops.alloc1f(nO)
    b_score += INITIAL_SCORE_OFFSET
    model.set_param("b_score", b_score)
    if model.attrs["efficient"]:
        model.set_param("W_bias", glorot_uniform_init(model.ops, (2 * nO, 2 * d)))
        model.set_param("b_bias", zero_init(model.ops, (2 * nO,)))


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

    X = ops.flatten(Xs)  # (n_tokens, nI)
    P = ops.gemm(X, W, trans2=True)  # (n_tokens, n_proj)
    P += b
    q_index = ops.asarray(layout.query_index())
    k_index = ops.asarray(layout.key_index())
    mask = ops.asarray(layout.valid_mask())
    n_heads = 1 if efficient else nO
    P_pad = _append_zero_row(ops, P)
    # Query and key vectors per block: (n_blocks, n_heads, C, d) and (n_blocks, n_heads, K, d).
    Q = _to_heads(P_pad[:, : n_heads * d][q_index], n_heads, d)
    Kv = _to_heads(P_pad[:, n_heads * d :][k_index], n_heads, d)
    if model.attrs["use_rope"]:
        # RoPE only depends on j - i, so positions can count from each block's
        # start: the tables stay small and exact however long the doc is.
        cos_q, sin_q = _rope_tables(ops, layout.block_size, d, P.dtype)
        cos_k, sin_k = _rope_tables(ops, layout.key_width, d, P.dtype)
        Q = _rotate(xp, Q, cos_q, sin_q)
        Kv = _rotate(xp, Kv, cos_k, sin_k)
    scale = 1.0 / numpy.sqrt(d)
    S = xp.matmul(Q, Kv.transpose(0, 1, 3, 2)) * scale  # (n_blocks, n_heads, C, K)
    if efficient:
        W_bias, b_bias = model.get_param("W_bias"), model.get_param("b_bias")
        bias = ops.gemm(P, W_bias, trans2=True)  # (n_tokens, 2 * nO)
        bias += b_bias
        bias_pad = _append_zero_row(ops, bias)
        start_term = bias_pad[:, :nO][q_index].transpose(0, 2, 1)[:, :, :, None]
        end_term = bias_pad[:, nO:][k_index].transpose(0, 2, 1)[:, :, None, :]
        S = S + start_term + end_term
    S += model.get_param("b_score")[None, :, None, None]
    scores = xp.where(mask, S, xp.asarray(MASK_VALUE, dtype=S.dtype))

    def backprop(dY: SpanScores) -> List[Floats2d]:
        dS = xp.where(mask, dY.scores, 0).astype(P.dtype, copy=False)
        dP = ops.alloc2f(P.shape[0], P.shape[1])
        model.inc_grad("b_score", dS.sum(axis=(0, 2, 3)))
        if efficient:
            # The start term is added along rows, the end term along columns.
            d_bias = ops.alloc2f(P.shape[0], 2 * nO)
            d_bias[:, :nO] = _scatter_queries(ops, dS.sum(axis=3).transpose(0, 2, 1), layout, q_index)
            d_bias[:, nO:] = _scatter_keys(ops, dS.sum(axis=2).transpose(0, 2, 1), layout, q_index)
            model.inc_grad("W_bias", ops.gemm(d_bias, P, trans1=True))
            model.inc_grad("b_bias", d_bias.sum(axis=0))
            dP += ops.gemm(d_bias, W_bias)
            dS = dS.sum(axis=1, keepdims=True)
        dQ = xp.matmul(dS, Kv)  # (n_blocks, n_heads, C, d)
        dQ *= scale
        dK = xp.matmul(dS.transpose(0, 1, 3, 2), Q)  # (n_blocks, n_heads, K, d)
        dK *= scale
        del dS  # the largest array of the backward pass; free it early
        if model.attrs["use_rope"]:
            dQ = _rotate(xp, dQ, cos_q, -sin_q)
            dK = _rotate(xp, dK, cos_k, -sin_k)
        dP[:, : n_heads * d] += _scatter_queries(ops, _from_heads(dQ), layout, q_index)
        dP[:, n_heads * d :] += _scatter_keys(ops, _from_heads(dK), layout, q_index)
        model.inc_grad("W", ops.gemm(dP, X, trans1=True))
        model.inc_grad("b", dP.sum(axis=0))
        dX = ops.gemm(dP, W)
        return ops.unflatten(dX, ops.asarray1i(lengths))

    return SpanScores(scores, mask, layout), backprop


def _append_zero_row(ops, A: Floats2d) -> Floats2d:
    """Add a zero row at the end, the target of padding indices."""
    return ops.xp.concatenate([A, ops.alloc2f(1, A.shape[1], dtype=A.dtype)], axis=0)


def _to_heads(A, n_heads: int, d: int):
    """(n_blocks, T, n_heads * d) -> (n_blocks, n_heads, T, d), contiguous."""
    n_blocks, T, _ = A.shape
    return A.reshape(n_blocks, T, n_heads, d).transpose(0, 2, 1, 3).copy()


def _from_heads(A):
    """(n_blocks, n_heads, T, d) -> (n_blocks, T, n_heads * d)."""
    n_blocks, n_heads, T, d = A.shape
    return A.transpose(0, 2, 1, 3).reshape(n_blocks, T, n_heads * d)


def _rope_tables(ops, n_positions: int, d: int, dtype) -> Tuple[Floats2d, Floats2d]:
    """cos and sin of position * frequency, (n_positions, d // 2)."""
    half = d // 2
    inv_freq = ROPE_BASE ** (-numpy.arange(half, dtype="float64") / half)
    angles = numpy.arange(n_positions, dtype="float64")[:, None] * inv_freq[None, :]
    return (
        ops.asarray(numpy.cos(angles).astype(dtype)),
        ops.asarray(numpy.sin(angles).astype(dtype)),
    )


def _rotate(xp, A, cos, sin):
    """Rotate the pairs (A[..., k], A[..., k + d/2]) by the given angles.
    With -sin this is the inverse (transposed) rotation, used in backprop."""
    half = A.shape[-1] // 2
    a1, a2 = A[..., :half], A[..., half:]
    return xp.concatenate([a1 * cos - a2 * sin, a1 * sin + a2 * cos], axis=-1)


def _scatter_queries(ops, dA, layout: BlockLayout, q_index) -> Floats2d:
    """Gradient of `A_pad[q_index]` w.r.t. A: each token is the query of
    exactly one block row, so a plain assignment suffices."""
    out = ops.alloc2f(layout.n_tokens + 1, dA.shape[-1], dtype=dA.dtype)
    out[q_index.reshape(-1)] = dA.reshape(-1, dA.shape[-1])
    return out[:-1]


def _scatter_keys(ops, dA, layout: BlockLayout, q_index) -> Floats2d:
    """Gradient of `A_pad[k_index]` w.r.t. A. Key slot o*C + c of block b is
    token c of block b + o, so sum the slots block-wise, then place the sums
    like queries. Slots past a doc's end carry zero gradient (masked)."""
    C, n_blocks = layout.block_size, layout.n_blocks
    width = dA.shape[-1]
    acc = ops.alloc3f(n_blocks + layout.n_key_blocks - 1, C, width, dtype=dA.dtype)
    for o in range(layout.n_key_blocks):
        acc[o : o + n_blocks] += dA[:, o * C : (o + 1) * C]
    return _scatter_queries(ops, acc[:n_blocks], layout, q_index)
