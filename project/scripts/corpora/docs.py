"""Records to spaCy Docs: every gold span checked against the text, the
tokens and spaCy's tokenizer for the language, each problem counted in the
FileReport; flat corpora also get a non-overlapping subset in doc.ents."""
from __future__ import annotations

from typing import Optional, Sequence

from .records import (DUPLICATE, EMPTY, ENTS_OVERLAP, MISALIGNED, NON_CHAR_DOC, OUT_OF_RANGE, TEXT_MISMATCH,
                      TOKENIZER_MISALIGNED, TRIMMED, FileReport, Record, _snippet)

def build_doc(nlp, rec: Record, report: Optional[FileReport], spans_key: str, nested: bool):
    """Make a Doc for one record, with gold spans in doc.spans[spans_key]
    (all of them, nested allowed) and, unless `nested`, a non-overlapping
    subset (longest first, spacy.util.filter_spans) in doc.ents. Records with
    words become docs of those words, checked against `nlp`'s tokenizer.
    Problems are counted in `report` (pass None to check without counting)."""
    from spacy.tokens import Doc
    from spacy.util import filter_spans

    if report is None:
        report = FileReport(path="", split="")
    text = rec.text
    if rec.words is not None:
        spaces = [True] * (len(rec.words) - 1) + [False]
        doc = Doc(nlp.vocab, words=rec.words, spaces=spaces)
        spacy_tokens = nlp.make_doc(text)
    else:
        doc = nlp.make_doc(text)
        spacy_tokens = None
    report.docs += 1
    report.chars += len(text)
    report.max_len = max(report.max_len, len(text))
    if spacy_tokens is None and (len(doc) != len(text) or any(len(t.text) != 1 for t in doc)):
        bad = [t.text for t in doc if len(t.text) != 1][:3]
        report.problem(
            NON_CHAR_DOC,
            f"{rec.where}: {len(text)} chars but {len(doc)} tokens "
            f"(whitespace is attached to the previous token; e.g. {bad!r}) | {_snippet(text)}",
        )
    seen = set()
    spans = []
    for raw in rec.spans:
        report.spans_read += 1
        s, e, label = raw.start, raw.end, raw.label
        desc = f"{rec.where}: {label} [{s},{e})"
        if s < 0 or e > len(text):
            report.problem(OUT_OF_RANGE, f"{desc} outside text of {len(text)} chars | {_snippet(text)}")
            continue
        if e <= s:
            report.problem(EMPTY, f"{desc} is empty | {_snippet(text, s)}")
            continue
        if raw.expected is not None and text[s:e] != raw.expected:
            report.problem(
                TEXT_MISMATCH,
                f"{desc} covers {text[s:e]!r}, file says {raw.expected!r} | {_snippet(text, s)}",
            )
            continue
        if (s, e, label) in seen:
            report.problem(DUPLICATE, f"{desc} {text[s:e]!r} listed twice | {_snippet(text, s)}")
            continue
        seen.add((s, e, label))
        span = doc.char_span(s, e, label=label)
        if span is None:
            # spaCy attaches a space to the previous token, so a span that
            # starts or ends on whitespace has no token boundary there.
            ts = s + (len(text[s:e]) - len(text[s:e].lstrip()))
            te = e - (len(text[s:e]) - len(text[s:e].rstrip()))
            span = doc.char_span(ts, te, label=label) if te > ts else None
            if span is not None:
                report.problem(TRIMMED, f"{desc} {text[s:e]!r} -> {span.text!r} | {_snippet(text, s)}")
            else:
                report.problem(
                    MISALIGNED,
                    f"{desc} {text[s:e]!r} does not match token boundaries | {_snippet(text, s)}",
                )
                continue
        if spacy_tokens is not None and spacy_tokens.char_span(span.start_char, span.end_char) is None:
            tokens = [t.text for t in spacy_tokens if t.idx < span.end_char and t.idx + len(t) > span.start_char]
            report.problem(
                TOKENIZER_MISALIGNED,
                f"{desc} {span.text!r}: spaCy's {nlp.lang!r} tokenizer makes {tokens!r} | {_snippet(text, s)}",
            )
        spans.append(span)
    spans.sort(key=lambda sp: (sp.start, sp.end, sp.label_))
    doc.spans[spans_key] = spans
    report.spans_kept += len(spans)
    report.labels.update(sp.label_ for sp in spans)
    if not nested:
        ents = filter_spans(spans)
        if len(ents) < len(spans):
            kept = set((x.start, x.end, x.label_) for x in ents)
            left = [f"{x.label_} {x.text!r}" for x in spans if (x.start, x.end, x.label_) not in kept]
            report.problem(
                ENTS_OVERLAP,
                f"{rec.where}: not in doc.ents (overlap): {', '.join(left)} | {_snippet(text)}",
                n=len(spans) - len(ents),
            )
        doc.ents = ents
        report.ents += len(ents)
    return doc


def build_docs(nlp, records: Sequence[Record], report: FileReport, spans_key: str, nested: bool) -> list:
    """build_doc for each record."""
    return [build_doc(nlp, rec, report, spans_key, nested) for rec in records]
