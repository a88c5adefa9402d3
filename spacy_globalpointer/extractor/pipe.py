"""The trainable `globalpointer_extractor` pipe: single-answer extraction.

Each doc has at most one answer per type: the answer to a question posed in
the doc (reading comprehension, see `question_docs.py`), or a slot such as
"the product name of this listing". Every span of the doc's context region is
scored with GlobalPointer; the scores of a doc are normalised with a softmax
over all its allowed spans (the GlobalPointer write-up's reading-comprehension
form), the model is trained with one of the losses of `losses.py`, and
the answer is the span with the highest probability, or none when that
probability is not above `threshold`.
"""
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

import numpy
from spacy.attrs import IDX, ORTH, SPACY
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.vocab import Vocab

from ..base import DEFAULT_GP_MODEL, GlobalPointerPipe
from ..errors import Errors, Warnings, doc_preview
from ..models.types import GPModelT, SpanScores
from ..spans import Candidates, check_probability
from .decoding import predict_answers
from .losses import (
    NO_GOLD,
    AnswerLossT,
    make_answer_targets,
    span_softmax_crossentropy,
)
from .question_docs import (
    DEFAULT_ANSWERS_SPANS_KEY,
    DEFAULT_CONTEXT_KEY,
    DEFAULT_SEPARATOR,
    context_bounds,
)
from .scorer import ANSWER_SCORES, answer_score


@Language.factory(
    "globalpointer_extractor",
    assigns=["doc.spans"],
    default_config={
        "model": DEFAULT_GP_MODEL,
        "spans_key": DEFAULT_ANSWERS_SPANS_KEY,
        "context_key": DEFAULT_CONTEXT_KEY,
        "separator": DEFAULT_SEPARATOR,
        "threshold": 0.0,
        "max_length": None,
        "loss": {"@losses": "spacy-globalpointer.SpanSoftmaxLoss.v1"},
        "scorer": {"@scorers": "spacy-globalpointer.answer_scorer.v1"},
    },
    default_score_weights=dict(ANSWER_SCORES),
)
def make_globalpointer_extractor(
    nlp: Language,
    name: str,
    model: GPModelT,
    spans_key: str,
    context_key: str,
    separator: Optional[str],
    threshold: float,
    max_length: Optional[int],
    loss: AnswerLossT,
    scorer: Optional[Callable],
) -> "GlobalPointerExtractor":
    """Create a GlobalPointer single-answer extractor.

    model (Model[List[Doc], SpanScores]): a registered GlobalPointer model,
        e.g. spacy-globalpointer.GlobalPointer.v1.
    spans_key (str): gold is read from and answers written to
        `doc.spans[spans_key]`, at most one span per type.
    context_key (str): the span group (one span) marking where answers may
        lie; without it, the tokens after `separator`, else the whole doc.
    separator (Optional[str]): the string between question and context in the
        doc's text; null to not look for one.
    threshold (float): an answer is written when its probability (softmax over
        the doc's allowed spans) is above this; 0 always answers.
    max_length (Optional[int]): longest answer in tokens to score; null scores
        spans up to twice the longest gold answer seen at initialize.
    loss (Callable): the training loss, e.g. spacy-globalpointer.SpanSoftmaxLoss.v1,
        spacy-globalpointer.ExpectedF1Loss.v1 or
        spacy-globalpointer.MultiLabelAnswerLoss.v1.
    scorer (Optional[Callable]): the scoring method.
    """
    return GlobalPointerExtractor(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        context_key=context_key,
        separator=separator,
        threshold=threshold,
        max_length=max_length,
        loss=loss,
        scorer=scorer,
    )


class GlobalPointerExtractor(GlobalPointerPipe):
    """Extract at most one answer span per type and doc with GlobalPointer.

    The answer of each type is the allowed span (inside the doc's context
    region, at most `max_length` tokens) with the highest score; it is written
    to `doc.spans[spans_key]` with its probability (softmax over all allowed
    spans of the doc) in `.attrs["scores"]` when that probability is above
    `threshold`. No other span group is touched.

    DOCS: https://github.com/spacy-globalpointer/spacy-globalpointer#single-answer-extraction-globalpointer_extractor
    """

    def __init__(
        self,
        vocab: Vocab,
        model: GPModelT,
        name: str = "globalpointer_extractor",
        *,
        spans_key: str = DEFAULT_ANSWERS_SPANS_KEY,
        context_key: str = DEFAULT_CONTEXT_KEY,
        separator: Optional[str] = DEFAULT_SEPARATOR,
        threshold: float = 0.0,
        max_length: Optional[int] = None,
        loss: AnswerLossT = span_softmax_crossentropy,
        scorer: Optional[Callable] = answer_score,
    ) -> None:
        """Initialize the pipe. See `make_globalpointer_extractor` for the settings."""
        self.loss = loss
        cfg = {
            "spans_key": spans_key,
            "context_key": context_key,
            "separator": separator or None,
            "threshold": threshold,
            "max_length": max_length,
            "learned_max_length": None,
        }
        super().__init__(vocab, model, name, cfg, scorer=scorer)

    def _check_settings(self) -> None:
        """Check `context_key` (GP003) and `threshold` (GP001)."""
        context_key = self.cfg["context_key"]
        if not isinstance(context_key, str) or not context_key:
            raise ValueError(
                Errors.GP003.format(name=self.name, setting="context_key", value=context_key)
            )
        self.cfg["threshold"] = check_probability(self.name, "threshold", self.cfg["threshold"])

    # ------------------------------------------------------------------ prediction

    def predict(self, docs: Iterable[Doc]) -> Candidates:
        """Find the best answer span per doc and type. Has no side effects.

        docs (Iterable[Doc]): the docs to predict for.
        RETURNS (Candidates): per doc and type with at least one allowed span:
            the best span and its probability (no threshold applied).
        """
        docs = list(docs)
        self._require_initialized()
        if not any(len(doc) for doc in docs):
            return Candidates.empty()
        contexts = numpy.asarray([self._context(doc) for doc in docs], dtype="int64")
        tokvecs = self.model.get_ref("tok2vec").predict(docs)
        return predict_answers(
            self._head,
            tokvecs,
            contexts.reshape(-1, 2),
            self.max_length,
            **self._window_settings(),
        )

    def set_annotations(self, docs: Iterable[Doc], candidates: Candidates) -> None:
        """Write the answers whose probability is above `threshold` to
        `doc.spans[spans_key]` (ordered by label), with their probabilities in
        `.attrs["scores"]`.

        docs (Iterable[Doc]): the docs, in the order given to `predict`.
        candidates (Candidates): the output of `predict`.
        """
        docs = list(docs)
        labels = [self.vocab.strings.add(label) for label in self.labels]
        found = candidates.select(candidates.score > self.cfg["threshold"])
        found = found.select(numpy.lexsort((found.label, found.doc)))
        bounds = numpy.searchsorted(found.doc, numpy.arange(len(docs) + 1))
        for i, doc in enumerate(docs):
            mine = found.select(slice(bounds[i], bounds[i + 1]))
            spans = [
                Span(doc, int(s), int(e), label=labels[int(lab)])
                for s, e, lab in zip(mine.start, mine.end, mine.label)
            ]
            group = SpanGroup(doc, name=self.key, spans=spans)
            group.attrs["scores"] = mine.score
            doc.spans[self.key] = group

    # ------------------------------------------------------------------ training

    def get_loss(
        self, examples: Iterable[Example], span_scores: SpanScores
    ) -> Tuple[float, SpanScores]:
        """The configured loss, averaged over docs, and its gradient.

        examples (Iterable[Example]): the batch.
        span_scores (SpanScores): the model's output for the batch.
        RETURNS (Tuple[float, SpanScores]): the loss and the gradient.
        """
        examples = list(examples)
        ops = self.model.ops
        contexts = numpy.asarray([self._example_context(eg) for eg in examples], dtype="int64")
        gold = numpy.full((len(examples), len(self.labels), 2), NO_GOLD, dtype="int64")
        label_map = self._label_map
        for i, eg in enumerate(examples):
            for span in self._aligned_answers(eg)[0]:
                label = label_map.get(span.label_)
                if label is not None:
                    gold[i, label] = (span.start, span.end)
        targets = make_answer_targets(ops, span_scores, contexts.reshape(-1, 2), gold)
        grad, loss = self.loss(ops, span_scores, targets)
        n_docs = max(len(examples), 1)
        grad /= n_docs
        return float(loss.sum()) / n_docs, SpanScores(grad, span_scores.mask, span_scores.layout)

    def _scan_gold(
        self, examples: Iterable[Example], add_labels: bool, cap: Optional[int]
    ) -> "AnswerScan":
        """Collect labels (if `add_labels`) and count the gold answers that
        cannot be scored: too long for `cap`, outside the context, misaligned.
        Raises GP020 for two answers of one type in a doc."""
        scan = AnswerScan()
        for eg in examples:
            aligned, missing = self._aligned_answers(eg)
            start, end = self._example_context(eg)
            scan.total += len(aligned) + len(missing)
            scan.misaligned += len(missing)
            bad = list(missing)
            for span in aligned:
                if add_labels:
                    self.add_label(span.label_)
                scan.longest = max(scan.longest, len(span))
                too_long = cap is not None and len(span) > cap
                outside = span.start < start or span.end > end
                scan.too_long += too_long
                scan.outside += outside and not too_long
                if too_long or outside:
                    bad.append(span)
            scan.count += len(bad)
            if bad and scan.first is None:
                scan.first = (bad[0], eg.reference)
        return scan

    def _warn_about_gold(self, scan: "AnswerScan", cap: Optional[int]) -> None:
        """Warn (GPW020) about gold answers that cannot be scored."""
        if scan.first is None:
            return
        span, doc = scan.first
        warnings.warn(
            Warnings.GPW020.format(
                name=self.name, max_length=self.max_length, span=span.text, label=span.label_,
                doc=doc_preview(doc), count=scan.count, total=scan.total, too_long=scan.too_long,
                outside=scan.outside, misaligned=scan.misaligned,
            )
        )

    # ------------------------------------------------------------------ helpers

    def _reported_scores(self) -> List[str]:
        """The names of the scores this pipe's scorer returns."""
        return list(ANSWER_SCORES)

    def _check_loaded_cfg(self) -> None:
        """Check the threshold of a loaded pipe (GP001)."""
        check_probability(self.name, "threshold", self.cfg.get("threshold"))

    def _context(self, doc: Doc) -> Tuple[int, int]:
        """Token [start, end) of the doc's context region."""
        return context_bounds(doc, self.cfg["context_key"], self.cfg["separator"], self.name)

    def _example_context(self, eg: Example) -> Tuple[int, int]:
        """The context region of an example's predicted doc: its own span
        group, else the reference's group aligned to it (a corpus reader
        re-tokenizes the text, so the predicted doc has no span groups), else
        the separator or the whole doc."""
        key = self.cfg["context_key"]
        group = eg.reference.spans.get(key)
        if key in eg.predicted.spans or group is None:
            return self._context(eg.predicted)
        if len(group) > 1:
            return context_bounds(eg.reference, key, None, self.name)  # raises GP021
        if len(group) == 0:
            return 0, 0
        aligned = _to_predicted(eg, [group[0]])
        return (aligned[0].start, aligned[0].end) if aligned else self._context(eg.predicted)

    def _aligned_answers(self, eg: Example) -> Tuple[List[Span], List[Span]]:
        """The gold answers mapped onto the predicted doc, and those that do
        not align with its tokens. Raises GP020 for two answers of one type."""
        gold = list(eg.reference.spans.get(self.key, []))
        if not gold:
            return [], []
        labels = [span.label_ for span in gold]
        for label in set(labels):
            if labels.count(label) > 1:
                same = [s for s in gold if s.label_ == label]
                raise ValueError(
                    Errors.GP020.format(
                        name=self.name, doc=doc_preview(eg.reference), count=len(same),
                        label=label, spans_key=self.key, spans=[s.text for s in same][:5],
                    )
                )
        aligned = _to_predicted(eg, gold)
        found = {span.label_ for span in aligned}
        return aligned, [span for span in gold if span.label_ not in found]


@dataclass
class AnswerScan:
    """What one pass over the gold answers found: the longest aligned answer
    (tokens), the answers in all, and those that cannot be scored (`count`):
    too long, outside the context region, misaligned; the first of them as
    (span, reference doc)."""

    longest: int = 0
    total: int = 0
    count: int = 0
    too_long: int = 0
    outside: int = 0
    misaligned: int = 0
    first: Optional[Tuple[Span, Doc]] = None


def _to_predicted(eg: Example, spans: List[Span]) -> List[Span]:
    """Reference spans mapped onto the predicted doc (those that align).
    When both docs have the same tokens, as usual, the spans are copied
    without `Example.alignment`, which re-reads every token on each access."""
    x, y = eg.predicted, eg.reference
    attrs = [ORTH, IDX, SPACY]  # same texts, offsets and whitespace: same tokens
    if len(x) == len(y) and numpy.array_equal(x.to_array(attrs), y.to_array(attrs)):
        return [Span(x, span.start, span.end, label=span.label) for span in spans]
    return list(eg.get_aligned_spans_y2x(spans, allow_overlap=True))
