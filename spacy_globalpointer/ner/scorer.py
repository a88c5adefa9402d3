"""The registered scorer: P/R/F for `doc.spans[spans_key]` and, when the pipe
annotates entities, for `doc.ents`, overall and per type."""
from typing import Any, Callable, Dict, Iterable, List, Optional

from spacy.scorer import Scorer, get_ner_prf
from spacy.training import Example
from spacy.util import registry


def globalpointer_score(
    examples: Iterable[Example],
    *,
    spans_key: str = "sc",
    annotate_ents: bool = False,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Score span predictions against the gold.

    examples (Iterable[Example]): examples with predicted and gold docs.
    spans_key (str): the span group scored, reported as `spans_<key>_{p,r,f}`
        and `spans_<key>_per_type`.
    annotate_ents (bool): also report `ents_{p,r,f}` and `ents_per_type`.
    RETURNS (Dict[str, Any]): the scores. Other keyword arguments (the pipe's
        settings, passed by spaCy) are ignored.
    """
    examples = list(examples)

    def get_spans(doc, _attr):
        return doc.ents if spans_in_ents(doc, spans_key, annotate_ents) else doc.spans.get(spans_key, [])

    scores = Scorer.score_spans(
        examples,
        attr=f"spans_{spans_key}",
        getter=get_spans,
        has_annotation=lambda doc: has_span_annotation(doc, spans_key, annotate_ents),
        labeled=True,
        allow_overlap=True,
    )
    if annotate_ents:
        scores.update(get_ner_prf(examples))
    return scores


def spans_in_ents(doc, spans_key: str, annotate_ents: bool) -> bool:
    """Whether the `spans_<key>` scores read a doc's spans from `doc.ents`: in
    entity mode, a gold doc may carry its annotation there only."""
    return annotate_ents and spans_key not in doc.spans


def has_span_annotation(doc, spans_key: str, annotate_ents: bool) -> bool:
    """Whether the `spans_<key>` scores count the doc at all."""
    return spans_key in doc.spans or (annotate_ents and doc.has_annotation("ENT_IOB"))


def reported_scores(spans_key: str, annotate_ents: bool) -> List[str]:
    """The names of the scores `globalpointer_score` returns for a pipe."""
    names = [f"spans_{spans_key}_{m}" for m in ("f", "p", "r", "per_type")]
    if annotate_ents:
        names += [f"ents_{m}" for m in ("f", "p", "r", "per_type")]
    return names


def default_score_weights(spans_key: str, annotate_ents: bool) -> Dict[str, Optional[float]]:
    """The training score weights of a pipe: its main output's F decides the
    checkpoint (entity F with `annotate_ents`, else span F), its P and R and,
    for flat models, the span F are shown beside it; per-type scores are
    reported but not shown as columns."""
    if annotate_ents:
        return {"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None,
                f"spans_{spans_key}_f": 0.0, f"spans_{spans_key}_per_type": None}
    return {f"spans_{spans_key}_f": 1.0, f"spans_{spans_key}_p": 0.0,
            f"spans_{spans_key}_r": 0.0, f"spans_{spans_key}_per_type": None}


@registry.scorers("spacy-globalpointer.globalpointer_scorer.v1")
def make_globalpointer_scorer() -> Callable[..., Dict[str, Any]]:
    """Registered factory of the default scorer of `globalpointer_ner`."""
    return globalpointer_score
