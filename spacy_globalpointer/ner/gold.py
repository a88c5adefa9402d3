"""Reading the gold of `globalpointer_ner`: where it lies, whether it aligns
with the predicted tokenization, and what `initialize` should warn about.

The pipe learns from `reference.spans[spans_key]`, or from `reference.ents`
with `annotate_ents = true` ("the gold's place"). Gold that is in the other
place, gold spans that do not align with the predicted tokens, spans longer
than the pipe scores and spans of labels the pipe does not have are counted
here, so that the pipe can say so instead of training on less than the user
thinks.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

import numpy
from spacy.attrs import ENT_IOB
from spacy.tokens import Doc, Span
from spacy.training import Example

from ..errors import Errors, describe_error, doc_preview


@dataclass
class GoldPlace:
    """Where a pipe reads its gold.

    name (str): the component's name, for messages.
    spans_key (str): the span group of the gold (and of the predictions).
    use_ents (bool): read `doc.ents` instead of the span group.
    missing_spans_key (Optional[str]): a span group of the reference docs
        whose spans mark regions left unannotated.
    incorrect_spans_key (Optional[str]): a span group of the reference docs
        whose spans (with their labels) are known to be wrong.
    """

    name: str
    spans_key: str
    use_ents: bool
    missing_spans_key: Optional[str] = None
    incorrect_spans_key: Optional[str] = None

    def describe(self, ents: Optional[bool] = None) -> str:
        """`doc.ents` or `doc.spans["key"]`, for messages."""
        ents = self.use_ents if ents is None else ents
        return "doc.ents" if ents else f'doc.spans["{self.spans_key}"]'

    def reference_spans(self, eg: Example) -> List[Span]:
        """The gold spans of the example's reference doc, checked (GP008)."""
        ref = eg.reference
        if self.use_ents:
            return list(ref.ents)
        group = ref.spans.get(self.spans_key)
        return [] if group is None else self._checked(group, ref)

    def other_place_count(self, eg: Example) -> int:
        """How many gold spans lie where this pipe does not read them."""
        ref = eg.reference
        if self.use_ents:
            return len(ref.spans.get(self.spans_key, []))
        return len(ref.ents)

    def aligned(self, eg: Example) -> Tuple[List[Span], List[Span]]:
        """The gold spans mapped onto the predicted doc, and the gold spans
        that could not be mapped (their tokens do not align)."""
        gold = self.reference_spans(eg)
        if not gold:
            return [], []
        aligned = list(eg.get_aligned_spans_y2x(gold, allow_overlap=True))
        if len(aligned) == len(gold):
            return aligned, []
        found = {(s.start_char, s.end_char, s.label) for s in aligned}
        missing = [s for s in gold if (s.start_char, s.end_char, s.label) not in found]
        return aligned, missing

    def unknown_tokens(self, eg: Example) -> Optional[numpy.ndarray]:
        """Which predicted tokens have unknown gold: with `doc.ents` gold, the
        reference tokens without entity annotation (IOB missing, as spaCy's
        `ner` reads them); with either gold, the tokens of the spans in
        `reference.spans[missing_spans_key]`. Spans touching them give no loss.

        RETURNS (Optional[numpy.ndarray]): (len(eg.predicted),) bool, or None
            when every token's gold is known.
        """
        ref = eg.reference
        if not len(ref):
            return None
        unknown = None
        if self.use_ents:
            iob = ref.to_array(ENT_IOB).reshape(-1)
            if (iob == 0).any():
                unknown = iob == 0
        group = ref.spans.get(self.missing_spans_key) if self.missing_spans_key else None
        if group:
            unknown = numpy.zeros(len(ref), dtype=bool) if unknown is None else unknown
            for span in group:
                unknown[span.start : span.end] = True
        return None if unknown is None else _reference_to_predicted(eg, unknown)

    def incorrect_spans(self, eg: Example) -> List[Span]:
        """The spans of `reference.spans[incorrect_spans_key]` (known to be
        wrong, e.g. rejected in an annotation tool) mapped onto the predicted
        doc; those that do not align are left out."""
        if not self.incorrect_spans_key:
            return []
        group = eg.reference.spans.get(self.incorrect_spans_key)
        if not group:
            return []
        return list(eg.get_aligned_spans_y2x(group, allow_overlap=True))

    def _checked(self, group, ref: Doc) -> List[Span]:
        """The spans of a group; raise GP008 for one that is empty or lies
        (partly) outside the doc. spaCy cannot create such spans, but a span
        group read from bytes (e.g. a damaged DocBin) can hold them."""
        gold = []
        for i in range(len(group)):
            try:
                span = group[i]
            except IndexError as err:  # spaCy E035: start/end outside the doc
                raise ValueError(
                    Errors.GP008.format(
                        name=self.name, span=f"#{i} of doc.spans['{self.spans_key}']",
                        doc=doc_preview(ref), problem=f"outside the doc ({describe_error(err)})",
                    )
                ) from err
            if span.end <= span.start:
                raise ValueError(
                    Errors.GP008.format(
                        name=self.name, span=f"({span.start}, {span.end}, {span.label_!r})",
                        doc=doc_preview(ref), problem="empty (zero tokens)",
                    )
                )
            gold.append(span)
        return gold


def _reference_to_predicted(eg: Example, flags: numpy.ndarray) -> Optional[numpy.ndarray]:
    """Per-token flags of the reference doc moved onto the predicted tokens
    (a predicted token is flagged if any reference token it aligns with is);
    None if no predicted token ends up flagged."""
    y2x = eg.alignment.y2x
    lengths = numpy.asarray(y2x.lengths, dtype="int64")
    data = numpy.asarray(y2x.data, dtype="int64")
    owner = numpy.repeat(numpy.arange(lengths.size), lengths)
    out = numpy.zeros(len(eg.predicted), dtype=bool)
    out[data[flags[owner]]] = True
    return out if out.any() else None


@dataclass
class GoldScan:
    """What one pass over the training data found.

    labels (List[str]): every gold label, in order of first appearance,
        including labels none of whose spans align.
    aligned_labels (Counter): aligned gold spans per label.
    longest (int): the longest aligned gold span, in tokens.
    n_gold (int): gold spans in the gold's place.
    n_other_place (int): gold spans in the other place (ents vs span group).
    n_misaligned, n_misaligned_docs: gold spans (and docs) that do not align.
    first_misaligned: (span, reference doc) of the first one, or None.
    n_too_long: aligned spans longer than the span-length cap.
    first_too_long: (span, reference doc) of the first one, or None.
    unknown_labels (Counter): aligned spans whose label the pipe lacks (only
        counted when the labels are fixed).
    """

    labels: List[str] = field(default_factory=list)
    aligned_labels: Counter = field(default_factory=Counter)
    longest: int = 0
    n_gold: int = 0
    n_other_place: int = 0
    n_misaligned: int = 0
    n_misaligned_docs: int = 0
    first_misaligned: Optional[Tuple[Span, Doc]] = None
    n_too_long: int = 0
    first_too_long: Optional[Tuple[Span, Doc]] = None
    unknown_labels: Counter = field(default_factory=Counter)


def scan_gold(
    place: GoldPlace,
    examples: Iterable[Example],
    *,
    known_labels: Optional[Iterable[str]],
    limit: Optional[int],
) -> GoldScan:
    """Read all gold once and count what the pipe should report.

    place (GoldPlace): where the gold is read.
    examples (Iterable[Example]): the training examples.
    known_labels (Optional[Iterable[str]]): the pipe's fixed labels, or None
        when the labels are taken from the data.
    limit (Optional[int]): the span-length cap set in the config, if any.
    RETURNS (GoldScan): the counts.
    """
    scan = GoldScan()
    known = None if known_labels is None else set(known_labels)
    seen = set()
    for eg in examples:
        aligned, missing = place.aligned(eg)
        scan.n_gold += len(aligned) + len(missing)
        scan.n_other_place += place.other_place_count(eg)
        for span in aligned + missing:
            if span.label_ not in seen:
                seen.add(span.label_)
                scan.labels.append(span.label_)
        for span in aligned:
            scan.aligned_labels[span.label_] += 1
            if known is not None and span.label_ not in known:
                scan.unknown_labels[span.label_] += 1
            scan.longest = max(scan.longest, len(span))
            if limit is not None and len(span) > limit:
                scan.n_too_long += 1
                scan.first_too_long = scan.first_too_long or (span, eg.reference)
        if missing:
            scan.n_misaligned += len(missing)
            scan.n_misaligned_docs += 1
            scan.first_misaligned = scan.first_misaligned or (missing[0], eg.reference)
    return scan
