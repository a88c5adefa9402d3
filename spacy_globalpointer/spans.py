"""What the decoding of both components shares: the `Candidates` a pipe's
`predict` returns, the windows that bound the memory of scoring long docs,
and the check of a probability setting."""
from dataclasses import dataclass
from typing import Any, Iterator, List, Sequence

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from .errors import Errors
from .models.layout import group_by_geometry
from .models.types import is_real_number


@dataclass
class Candidates:
    """Predicted spans of a batch, as parallel numpy arrays (end exclusive)."""

    doc: numpy.ndarray
    start: numpy.ndarray
    end: numpy.ndarray
    label: numpy.ndarray
    score: numpy.ndarray

    @classmethod
    def empty(cls) -> "Candidates":
        ints = numpy.zeros((0,), dtype="int64")
        return cls(ints, ints, ints, ints, numpy.zeros((0,), dtype="float32"))

    @classmethod
    def concat(cls, parts: Sequence["Candidates"]) -> "Candidates":
        if not parts:
            return cls.empty()
        return cls(
            *(numpy.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS)
        )

    def select(self, keep) -> "Candidates":
        """The candidates at `keep` (a mask, an index array or a slice)."""
        return Candidates(*(getattr(self, f)[keep] for f in _FIELDS))

    def __len__(self) -> int:
        return int(self.doc.shape[0])


_FIELDS = ("doc", "start", "end", "label", "score")


@dataclass
class Window:
    """A piece of a doc's token vectors scored on its own.

    Because RoPE makes scores depend only on j - i, a span gets the same score
    in a window as in the whole doc, as long as the window holds the span."""

    doc: int
    offset: int  # first token of the window in the doc
    keep_starts: int  # spans starting at local positions < keep_starts are kept
    vectors: Floats2d


def iter_windows(
    tokvecs: Sequence[Floats2d], max_length: int, window: int
) -> Iterator[Window]:
    """Cut docs longer than `window + max_length - 1` tokens into windows of
    `window` span starts, each with `max_length - 1` tokens of right context,
    so that every span of up to `max_length` tokens is scored exactly once."""
    context = max(max_length - 1, 0)
    for i, vecs in enumerate(tokvecs):
        n = vecs.shape[0]
        if n <= window + context:
            yield Window(i, 0, n, vecs)
            continue
        for offset in range(0, n, window):
            stop = min(n, offset + window + context)
            yield Window(i, offset, window, vecs[offset:stop])


@dataclass
class WindowGroup:
    """Windows scored together in one call of the head."""

    vectors: List[Floats2d]
    docs: numpy.ndarray  # the doc of each window
    offsets: numpy.ndarray  # the window's first token in its doc
    keep_starts: numpy.ndarray  # local span starts below this are the window's own


def window_groups(
    head: Model,
    tokvecs: Sequence[Floats2d],
    max_length: int,
    window: int,
    max_entries: int,
    call_overhead: int,
) -> Iterator[WindowGroup]:
    """Cut the docs into windows (`iter_windows`) and group windows of similar
    length (`group_by_geometry`), so short docs are not padded to the geometry
    of long ones, and a group holds at most `max_entries` scores per label (a
    single longer window is scored alone): the memory of a call is bounded
    whatever the doc lengths.

    max_entries (int): the most score entries per label of one head call.
    call_overhead (int): what one more head call costs, in score entries per
        label (see `group_by_geometry`).
    """
    windows = list(iter_windows(tokvecs, max_length, window))
    groups = group_by_geometry(
        [w.vectors.shape[0] for w in windows], max_length, head.attrs["block_size"],
        overhead=call_overhead, max_entries=max_entries,
    )
    for group in groups:
        batch = [windows[i] for i in group]
        yield WindowGroup(
            [w.vectors for w in batch],
            numpy.asarray([w.doc for w in batch], dtype="int64"),
            numpy.asarray([w.offset for w in batch], dtype="int64"),
            numpy.asarray([w.keep_starts for w in batch], dtype="int64"),
        )


def is_probability(value: Any) -> bool:
    """Whether `value` is a number (not a bool) in [0, 1]."""
    return is_real_number(value) and 0.0 <= float(value) <= 1.0


def check_probability(name: str, setting: str, value: Any) -> float:
    """Return `value` as a float if it is a probability in [0, 1], else raise
    GP001 naming the component and the setting."""
    if not is_probability(value):
        raise ValueError(Errors.GP001.format(name=name, setting=setting, value=value))
    return float(value)
