from .architectures import (
    build_efficient_globalpointer_model,
    build_globalpointer_model,
)
from .globalpointer import GlobalPointerHead
from .layout import BlockLayout, make_layout
from .types import MASK_VALUE, SpanScores

__all__ = [
    "BlockLayout",
    "GlobalPointerHead",
    "MASK_VALUE",
    "SpanScores",
    "build_efficient_globalpointer_model",
    "build_globalpointer_model",
    "make_layout",
]
