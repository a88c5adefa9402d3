"""Brute-force references and hypothesis strategies shared by the
property-based tests (models/test_layout, ner/test_decoding, models/test_globalpointer)."""
from hypothesis import settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=100, deadline=None)


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
