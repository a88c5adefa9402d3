"""Registered model architectures: a token-vector encoder chained to a pointer head."""
from typing import List, Optional, cast

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, chain
from thinc.types import Floats2d

from .globalpointer import GlobalPointerHead
from .types import GPModelT


@registry.architectures("spacy-globalpointer.GlobalPointer.v1")
def build_globalpointer_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head_size: int = 64,
    use_rope: bool = True,
    max_length: Optional[int] = None,
    nO: Optional[int] = None,
    dropout: Optional[float] = 0.0,
    learn_rate_scale: float = 1.0,
) -> GPModelT:
    """Build a GlobalPointer span scorer: per-type q/k projections with RoPE.

    tok2vec (Model[List[Doc], List[Floats2d]]): the token encoder, e.g.
        spacy.Tok2VecListener.v1 or spacy-transformers.TransformerListener.v1.
    head_size (int): size of the q and k vectors per type (even; 64 in the paper).
    use_rope (bool): apply rotary position embeddings (strongly recommended).
    max_length (Optional[int]): longest span in tokens to score. The pipe's
        own `max_length` setting, when not null, takes precedence.
    nO (Optional[int]): number of entity types; inferred at initialize.
    dropout (Optional[float]): dropout on the head's q/k projections during
        training; null follows `[training] dropout`.
    learn_rate_scale (float): the head's learning rate as a multiple of the
        optimizer's (the encoder's); e.g. 10 for a randomly initialised head on
        a fine-tuned transformer. 1.0 trains both at one rate.
    RETURNS (Model[List[Doc], SpanScores]): the model.
    """
    head = GlobalPointerHead(
        nO=nO, head_size=head_size, use_rope=use_rope, max_length=max_length, dropout=dropout,
        learn_rate_scale=learn_rate_scale,
    )
    return _with_encoder(tok2vec, head)


@registry.architectures("spacy-globalpointer.EfficientGlobalPointer.v1")
def build_efficient_globalpointer_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head_size: int = 64,
    use_rope: bool = True,
    max_length: Optional[int] = None,
    nO: Optional[int] = None,
    dropout: Optional[float] = 0.0,
    learn_rate_scale: float = 1.0,
) -> GPModelT:
    """Build an Efficient GlobalPointer span scorer: one shared q/k projection
    with RoPE plus a per-type start and end term (4 * head_size parameters per
    type instead of 2 * head_size * width).

    tok2vec (Model[List[Doc], List[Floats2d]]): the token encoder.
    head_size (int): size of the shared q and k vectors (even).
    use_rope (bool): apply rotary position embeddings.
    max_length (Optional[int]): longest span in tokens to score.
    nO (Optional[int]): number of entity types; inferred at initialize.
    dropout (Optional[float]): dropout on the head's q/k projections during
        training; null follows `[training] dropout`.
    learn_rate_scale (float): the head's learning rate as a multiple of the
        optimizer's (the encoder's); e.g. 10 for a randomly initialised head on
        a fine-tuned transformer. 1.0 trains both at one rate.
    RETURNS (Model[List[Doc], SpanScores]): the model.
    """
    head = GlobalPointerHead(
        nO=nO, head_size=head_size, use_rope=use_rope, max_length=max_length,
        efficient=True, dropout=dropout, learn_rate_scale=learn_rate_scale,
    )
    return _with_encoder(tok2vec, head)


def _with_encoder(tok2vec: Model, head: Model) -> GPModelT:
    """Chain encoder and head, exposing both as refs for the pipe."""
    model = cast(GPModelT, chain(tok2vec, head))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("pointer", head)
    return model
