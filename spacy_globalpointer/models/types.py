"""Types passed between the GlobalPointer layers and the pipe."""
import numbers
from dataclasses import dataclass
from typing import Any, List

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Floats4d

from .layout import BlockLayout

# Masked (invalid) span scores. Finite and far below any decision threshold,
# and representable in float16 (max 65504) and bfloat16, unlike the +-1e12
# constants other implementations use.
MASK_VALUE = -1e4


def is_real_number(value: Any) -> bool:
    """Whether a setting's `value` is a real number: ints, floats and numpy
    floats, not bools (which Python counts as ints)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass
class SpanScores:
    """Logits for every scored span of a batch, in block layout.

    scores (Floats4d): (n_blocks, n_labels, block_size, key_width) logits on the
        model's device; masked positions hold MASK_VALUE.
    mask: (n_blocks, 1, block_size, key_width) bool array on the device, True
        for spans that are scored.
    layout (BlockLayout): maps positions back to (doc, start, end).
    """

    scores: Floats4d
    mask: Floats4d
    layout: BlockLayout

    @property
    def n_labels(self) -> int:
        return int(self.scores.shape[1])


GPInT = List[Doc]
GPHeadInT = List[Floats2d]
GPOutT = SpanScores
GPModelT = Model[GPInT, GPOutT]
GPHeadT = Model[GPHeadInT, GPOutT]
