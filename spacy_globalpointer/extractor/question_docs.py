"""Docs that pose a question: question + separator + context.

Single-answer extraction reads one doc per question. The doc's text is
`question + " " + separator + " " + context`, tokenized by the pipeline's own
tokenizer, and answers may only start and end inside the context, which is
found (in this order) from

1. the span group `doc.spans[context_key]` (one span), set by
   `make_question_doc`;
2. the first occurrence of the separator string in `doc.text`: the context
   is every token that starts after it. This is what makes the context known
   when only the text survives, e.g. when `spacy train` re-tokenizes the
   corpus or `nlp("question [SEP] context")` is called on a string;
3. otherwise the whole doc.
"""
from typing import Dict, Optional, Tuple

import numpy
from spacy.attrs import IDX
from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors

DEFAULT_SEPARATOR = "[SEP]"
DEFAULT_CONTEXT_KEY = "context"
DEFAULT_ANSWER_LABEL = "ANSWER"
DEFAULT_ANSWERS_SPANS_KEY = "answer"


def make_question_doc(
    nlp: Language,
    question: str,
    context: str,
    *,
    answers: Optional[Dict[str, Tuple[int, int]]] = None,
    spans_key: str = DEFAULT_ANSWERS_SPANS_KEY,
    separator: str = DEFAULT_SEPARATOR,
    context_key: str = DEFAULT_CONTEXT_KEY,
) -> Doc:
    """Make a doc that asks `question` about `context`, for training or
    prediction with `globalpointer_extractor`.

    nlp (Language): the pipeline whose tokenizer is used (`nlp.make_doc`), so
        the doc has the tokens that `spacy train` will see.
    question (str): the question; must not contain the separator.
    context (str): the text in which the answer lies.
    answers (Optional[Dict[str, Tuple[int, int]]]): gold answers for training,
        {label: (start_char, end_char)} with character offsets into `context`
        (end exclusive); written to `doc.spans[spans_key]`.
    spans_key (str): the span group of the answers.
    separator (str): the string between question and context; it must be
        the pipe's `separator` setting.
    context_key (str): the span group that marks the context.
    RETURNS (Doc): the doc, with `doc.spans[context_key]` holding the context
        and, if given, `doc.spans[spans_key]` the answers.
    """
    if separator and separator in question:
        raise ValueError(Errors.GP023.format(question=question, separator=separator))
    prefix = f"{question} {separator} " if separator else f"{question} "
    doc = nlp.make_doc(prefix + context)
    offset = len(prefix)
    doc.spans[context_key] = [span for span in [_tokens_after(doc, offset)] if span is not None]
    if answers:
        spans = []
        for label, (start, end) in answers.items():
            inside = 0 <= start < end <= len(context)
            span = doc.char_span(offset + start, offset + end, label=label) if inside else None
            if span is None:
                raise ValueError(
                    Errors.GP024.format(
                        answer=context[start:end], label=label, start=start, end=end
                    )
                )
            spans.append(span)
        doc.spans[spans_key] = spans
    return doc


def context_bounds(
    doc: Doc,
    context_key: str = DEFAULT_CONTEXT_KEY,
    separator: Optional[str] = DEFAULT_SEPARATOR,
    name: str = "globalpointer_extractor",
) -> Tuple[int, int]:
    """The token [start, end) of the doc's context region (see the module
    docstring for how it is found). A span group with more than one span
    raises GP021; an empty one means no context (no answer possible).

    doc (Doc): the doc.
    context_key (str): the span group that marks the context.
    separator (Optional[str]): the separator string, or None to not look for one.
    name (str): the component asking, for the error message.
    RETURNS (Tuple[int, int]): the context's first token and end (exclusive).
    """
    group = doc.spans.get(context_key)
    if group is not None:
        if len(group) > 1:
            raise ValueError(
                Errors.GP021.format(
                    name=name, context_key=context_key, doc=doc.text[:40], count=len(group)
                )
            )
        return (group[0].start, group[0].end) if len(group) else (0, 0)
    if separator:
        found = doc.text.find(separator)
        if found >= 0:
            span = _tokens_after(doc, found + len(separator))
            return (span.start, span.end) if span is not None else (len(doc), len(doc))
    return 0, len(doc)


def _tokens_after(doc: Doc, char: int) -> Optional[Span]:
    """The span of every token that starts at or after character `char`
    (None if there is none)."""
    starts = doc.to_array(IDX)
    first = int(numpy.searchsorted(starts, char, side="left"))
    return doc[first:] if first < len(doc) else None
