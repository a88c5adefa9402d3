"""Decoding of `globalpointer_ner` (`ner/decoding.py`): thresholding the
span scores and the score-greedy resolution of overlaps, against brute force.
(Windowed prediction through the pipe is checked in ner/test_pipe.)"""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from thinc.api import NumpyOps

from spacy_globalpointer.models.layout import make_layout
from spacy_globalpointer.models.types import MASK_VALUE, SpanScores
from spacy_globalpointer.ner.decoding import decode, greedy_non_overlapping
from spacy_globalpointer.ner.thresholds import probability_to_logit

from ..strategies import PROPERTY, layout_args

OPS = NumpyOps()


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
