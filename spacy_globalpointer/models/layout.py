"""Block layout: how the spans of a batch of docs are scored in linear memory.

A dense GlobalPointer scores an (n x n) matrix per type, padded to the longest
doc of the batch. Here every doc is cut into blocks of `block_size` tokens and
the blocks of all docs are packed along one axis. A block scores the spans that
*start* in it against the keys of that block and of the `n_key_blocks - 1`
blocks that follow (enough to reach `max_length` tokens). So the score tensor
has shape (n_blocks, n_types, block_size, n_key_blocks * block_size): it grows
with the total number of tokens times the longest span, never with n squared,
and a short doc in a batch with a long one is padded to one block, not to the
long doc's length.

The head writes each doc's token vectors into a buffer in which every doc
starts at a block boundary (`token_rows`), so that a block's queries and its
window of keys are plain (strided) views of the buffer, not copies.

The geometry follows the longest doc of a call, so docs of very different
lengths are best scored in separate calls: `group_by_geometry` splits a batch
into groups of similar docs where that saves more score entries than the
overhead of another call.

All index arrays here are numpy (CPU) metadata; the model moves what it needs
to the device.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy

DEFAULT_BLOCK_SIZE = 64


@dataclass
class BlockLayout:
    """Where each block of the packed score tensor sits in the docs.

    lengths (numpy.ndarray): (n_docs,) number of tokens per doc.
    block_size (int): C, the number of span starts per block.
    n_key_blocks (int): how many blocks of keys each block is scored against.
    max_length (int): the longest span (in tokens) that is scored.
    block_doc (numpy.ndarray): (n_blocks,) the doc each block belongs to.
    block_start (numpy.ndarray): (n_blocks,) the token offset of the block in its doc.
    doc_first_block (numpy.ndarray): (n_docs,) index of each doc's first block.
    blocks_per_doc (numpy.ndarray): (n_docs,) number of blocks per doc.
    row_offsets (numpy.ndarray): (n_docs,) row of each doc's first token in the
        concatenated token matrix.
    """

    lengths: numpy.ndarray
    block_size: int
    n_key_blocks: int
    max_length: int
    block_doc: numpy.ndarray
    block_start: numpy.ndarray
    doc_first_block: numpy.ndarray
    blocks_per_doc: numpy.ndarray
    row_offsets: numpy.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.block_doc.shape[0])

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())

    @property
    def key_width(self) -> int:
        return self.block_size * self.n_key_blocks

    @property
    def n_buffer_rows(self) -> int:
        """Rows of the block-aligned token buffer: every block's C rows, plus
        enough zero rows after the last block for its window of keys."""
        return self.n_blocks * self.block_size + self.key_width - self.block_size

    def token_rows(self) -> numpy.ndarray:
        """(n_tokens,) the buffer row of each token of the concatenated docs:
        each doc starts at the first row of its first block."""
        return self.doc_first_block.repeat(self.lengths) * self.block_size + self.token_positions()

    def token_positions(self) -> numpy.ndarray:
        """(n_tokens,) the position of each token in its doc."""
        return numpy.arange(self.n_tokens) - self.row_offsets.repeat(self.lengths)

    def query_index(self) -> numpy.ndarray:
        """(n_blocks, block_size) row of each span start in the concatenated
        token matrix, or n_tokens (a zero padding row) past the doc's end."""
        return self._rows(self.block_size)

    def key_index(self) -> numpy.ndarray:
        """(n_blocks, key_width) row of each span end, padded like query_index."""
        return self._rows(self.key_width)

    def valid_mask(self) -> numpy.ndarray:
        """(n_blocks, 1, block_size, key_width) True where (start, end) is a
        span to score: both inside the doc, end >= start, end - start < max_length."""
        C, K = self.block_size, self.key_width
        doc_len = self.lengths[self.block_doc][:, None]
        q_ok = (self.block_start[:, None] + numpy.arange(C)[None, :]) < doc_len
        k_ok = (self.block_start[:, None] + numpy.arange(K)[None, :]) < doc_len
        offset = numpy.arange(K)[None, :] - numpy.arange(C)[:, None]
        band = (offset >= 0) & (offset < self.max_length)
        mask = q_ok[:, :, None] & k_ok[:, None, :] & band[None, :, :]
        return mask[:, None, :, :]

    def touches(self, flags: numpy.ndarray) -> numpy.ndarray:
        """(n_blocks, 1, block_size, key_width) True where the span (start,
        end) contains a flagged token; `flags` is (n_tokens,) bool over the
        concatenated docs (e.g. tokens whose gold is unknown). Entries outside
        the docs are False."""
        C, K = self.block_size, self.key_width
        flags = numpy.asarray(flags, dtype=bool).reshape(-1)
        # Flagged tokens before each position of each doc: a prefix sum per doc
        # with a leading 0, docs laid end to end (doc d's n_d + 1 entries).
        prefix_start = self.row_offsets + numpy.arange(self.lengths.size)
        counts = numpy.zeros(self.n_tokens + self.lengths.size, dtype="int64")
        if self.n_tokens:
            positions = self.token_positions() + prefix_start.repeat(self.lengths) + 1
            counts[positions] = flags
        counts = numpy.cumsum(counts)
        doc_len = self.lengths[self.block_doc][:, None]
        base = prefix_start[self.block_doc][:, None]
        starts = numpy.minimum(self.block_start[:, None] + numpy.arange(C)[None, :], doc_len)
        ends = numpy.minimum(self.block_start[:, None] + numpy.arange(K)[None, :] + 1, doc_len)
        before_start = counts[base + starts]  # (n_blocks, C)
        before_end = counts[base + ends]  # (n_blocks, K)
        return (before_end[:, None, :] > before_start[:, :, None])[:, None, :, :]

    def locate(
        self, block: numpy.ndarray, row: numpy.ndarray, col: numpy.ndarray
    ) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Map (block, row, col) positions of the score tensor to (doc, start,
        end) with `end` exclusive, as spaCy spans count."""
        doc = self.block_doc[block]
        start = self.block_start[block] + row
        end = self.block_start[block] + col + 1
        return doc, start, end

    def position(
        self, doc: numpy.ndarray, start: numpy.ndarray, end: numpy.ndarray
    ) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Inverse of `locate` for spans with exclusive `end`. Returns (block,
        row, col, ok) where ok is False for spans the layout cannot score
        (longer than max_length or outside the doc)."""
        doc = numpy.asarray(doc, dtype="int64")
        start = numpy.asarray(start, dtype="int64")
        end = numpy.asarray(end, dtype="int64")
        inside = (start >= 0) & (end > start) & (end <= self.lengths[doc])
        ok = inside & ((end - start) <= self.max_length)
        block_in_doc = numpy.where(ok, start // self.block_size, 0)
        block = self.doc_first_block[doc] + block_in_doc
        row = start - block_in_doc * self.block_size
        col = (end - 1) - block_in_doc * self.block_size
        ok &= col < self.key_width
        return block, row, col, ok

    def _rows(self, width: int) -> numpy.ndarray:
        pos = self.block_start[:, None] + numpy.arange(width)[None, :]
        inside = pos < self.lengths[self.block_doc][:, None]
        rows = self.row_offsets[self.block_doc][:, None] + pos
        return numpy.where(inside, rows, self.n_tokens).astype("int64")


def block_geometry(span_cap: int, block_size: int) -> Tuple[int, int]:
    """The block size C for spans of up to `span_cap` tokens, and how many
    blocks of keys a block of span starts needs to reach them (before the cap
    by the longest doc that `make_layout` applies)."""
    C = max(1, min(block_size, span_cap))
    return C, 1 + -(-(span_cap - 1) // C)


def _geometry(
    lens: numpy.ndarray, max_length: Optional[int], block_size: int
) -> Tuple[int, int, int, numpy.ndarray]:
    """(span_cap, C, n_key_blocks, blocks_per_doc) of the layout for docs of
    lengths `lens`: the shared part of `make_layout` and `layout_cost`."""
    longest_doc = int(lens.max()) if lens.size else 0
    span_cap = longest_doc if max_length is None else min(max_length, longest_doc)
    span_cap = max(span_cap, 1)
    C, n_key_blocks = block_geometry(span_cap, block_size)
    blocks_per_doc = -(-lens // C)  # ceil division; 0 for empty docs
    most_blocks = int(blocks_per_doc.max()) if lens.size else 0
    # Blocks of keys needed after the query block to reach span_cap tokens,
    # but never more than the longest doc has.
    extra = min(n_key_blocks - 1, max(most_blocks - 1, 0))
    return span_cap, C, 1 + extra, blocks_per_doc


def layout_cost(lengths: Sequence[int], max_length: Optional[int], block_size: int = DEFAULT_BLOCK_SIZE) -> int:
    """The number of (start, end) entries per type that the layout of these
    docs scores, padding included."""
    lens = numpy.asarray(lengths, dtype="int64").reshape(-1)
    _, C, n_key_blocks, blocks_per_doc = _geometry(lens, max_length, block_size)
    return int(blocks_per_doc.sum()) * C * C * n_key_blocks


def group_by_geometry(
    lengths: Sequence[int],
    max_length: Optional[int],
    block_size: int = DEFAULT_BLOCK_SIZE,
    *,
    overhead: int,
    max_entries: Optional[int] = None,
) -> List[numpy.ndarray]:
    """Split docs into groups to score in separate calls, shortest first.

    Docs are taken in order of length; a doc joins the current group unless
    that costs more score entries (its own plus the padding it adds to the
    group's other docs) than a new group would cost, `overhead` included, or
    the group would exceed `max_entries`.

    lengths (Sequence[int]): tokens per doc.
    max_length (Optional[int]): the span-length cap.
    block_size (int): the largest block.
    overhead (int): the cost of one more call, in score entries per type.
    max_entries (Optional[int]): the most entries per type of one group.
    RETURNS (List[numpy.ndarray]): the doc indices of each group.
    """
    lens = numpy.asarray(lengths, dtype="int64").reshape(-1)
    order = numpy.argsort(lens, kind="stable")
    groups: List[List[int]] = []
    current: List[int] = []
    current_cost = 0
    for i in order.tolist():
        if current:
            joined = layout_cost(lens[current + [i]], max_length, block_size)
            alone = layout_cost(lens[[i]], max_length, block_size)
            fits = max_entries is None or joined <= max_entries
            if fits and joined - current_cost <= alone + overhead:
                current.append(i)
                current_cost = joined
                continue
            groups.append(current)
        current = [i]
        current_cost = layout_cost(lens[[i]], max_length, block_size)
    if current:
        groups.append(current)
    return [numpy.asarray(g, dtype="int64") for g in groups]


def make_layout(
    lengths: Sequence[int],
    max_length: Optional[int],
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> BlockLayout:
    """Plan the blocks for docs of the given lengths.

    lengths (Sequence[int]): number of tokens per doc.
    max_length (Optional[int]): longest span to score; None scores every span.
    block_size (int): the largest block; smaller batches use smaller blocks.
    RETURNS (BlockLayout): the plan.
    """
    lens = numpy.asarray(lengths, dtype="int64").reshape(-1)
    span_cap, C, n_key_blocks, blocks_per_doc = _geometry(lens, max_length, block_size)
    n_blocks = int(blocks_per_doc.sum())
    block_doc = numpy.repeat(numpy.arange(lens.size), blocks_per_doc)
    doc_first_block = numpy.cumsum(blocks_per_doc) - blocks_per_doc
    block_in_doc = numpy.arange(n_blocks) - doc_first_block[block_doc]
    return BlockLayout(
        lengths=lens,
        block_size=C,
        n_key_blocks=n_key_blocks,
        max_length=span_cap,
        block_doc=block_doc,
        block_start=block_in_doc * C,
        doc_first_block=doc_first_block,
        blocks_per_doc=blocks_per_doc,
        row_offsets=numpy.cumsum(lens) - lens,
    )
