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

All index arrays here are numpy (CPU) metadata; the model moves what it needs
to the device.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

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
    longest_doc = int(lens.max()) if lens.size else 0
    span_cap = longest_doc if max_length is None else min(max_length, longest_doc)
    span_cap = max(span_cap, 1)
    C, n_key_blocks = block_geometry(span_cap, block_size)
    blocks_per_doc = -(-lens // C)  # ceil division; 0 for empty docs
    most_blocks = int(blocks_per_doc.max()) if lens.size else 0
    # Blocks of keys needed after the query block to reach span_cap tokens,
    # but never more than the longest doc has.
    extra = min(n_key_blocks - 1, max(most_blocks - 1, 0))
    n_blocks = int(blocks_per_doc.sum())
    block_doc = numpy.repeat(numpy.arange(lens.size), blocks_per_doc)
    doc_first_block = numpy.cumsum(blocks_per_doc) - blocks_per_doc
    block_in_doc = numpy.arange(n_blocks) - doc_first_block[block_doc]
    return BlockLayout(
        lengths=lens,
        block_size=C,
        n_key_blocks=1 + extra,
        max_length=span_cap,
        block_doc=block_doc,
        block_start=block_in_doc * C,
        doc_first_block=doc_first_block,
        blocks_per_doc=blocks_per_doc,
        row_offsets=numpy.cumsum(lens) - lens,
    )
