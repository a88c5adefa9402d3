"""The block layout (`models/layout.py`): which spans are scored, where,
and how docs are grouped into head calls."""
import numpy
from hypothesis import given
from hypothesis import strategies as st

from spacy_globalpointer.models.layout import group_by_geometry, layout_cost, make_layout

from ..strategies import PROPERTY, brute_spans, layout_args, n_spans


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


def test_group_by_geometry():
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
