"""Readers of the column (CoNLL-style) corpora: one token and its tag(s) a
line, a blank line between sentences. Characters with BIO or BMES tags
(MSRA, People's Daily, Resume, Weibo) and pre-tokenised words with BIO tags
(WNUT 2017, DaN+ with two nested columns, LitBank with one column a layer,
BTC)."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .records import (BLANK_SENTENCE, BLANK_TOKEN, ILL_FORMED, ILL_FORMED_POLICIES, TOKEN_WHITESPACE,
                      CorpusFormatError, FileReport, RawSpan, Record, _snippet, read_text)

_TAG_RE = re.compile(r"^([A-Z])-(\S+)$")
_WEIBO_CHAR_RE = re.compile(r"(.+?)(\d+)", re.S)


@dataclass
class _Chunk:
    start: int  # token index
    end: int  # token index, exclusive
    label: str
    reasons: List[str] = field(default_factory=list)
    closed: bool = False  # BMES: E or S seen


def decode_tags(
    tags: Sequence[str], scheme: str
) -> List[Tuple[int, int, str, List[str]]]:
    """Turn a BIO or BMES tag sequence into (start, end_exclusive, label, reasons).

    `reasons` is empty for a well-formed chunk. Ill-formed sequences are
    decoded the conlleval way: an I-/M-/E- that does not continue an open chunk
    of the same type starts a new chunk, and a BMES chunk without E- ends
    where the next chunk or O starts. `tags` must already be validated.
    """
    chunks: List[_Chunk] = []
    cur: Optional[_Chunk] = None

    def close() -> None:
        nonlocal cur
        if cur is not None:
            if scheme == "bmes" and not cur.closed:
                cur.reasons.append("no closing E-")
            chunks.append(cur)
            cur = None

    for i, tag in enumerate(tags):
        if tag == "O":
            close()
            continue
        prefix, label = tag[0], tag[2:]
        if scheme == "bio":
            if prefix == "B":
                close()
                cur = _Chunk(i, i + 1, label)
            else:  # I
                if cur is not None and cur.label == label:
                    cur.end = i + 1
                else:
                    after = f"after {tags[i - 1]}" if i > 0 else "at sentence start"
                    close()
                    cur = _Chunk(i, i + 1, label, [f"I-{label} {after}"])
        else:  # bmes
            if prefix == "B":
                close()
                cur = _Chunk(i, i + 1, label)
            elif prefix == "S":
                close()
                chunks.append(_Chunk(i, i + 1, label, closed=True))
            else:  # M or E
                if cur is not None and cur.label == label and not cur.closed:
                    cur.end = i + 1
                else:
                    after = f"after {tags[i - 1]}" if i > 0 else "at sentence start"
                    close()
                    cur = _Chunk(i, i + 1, label, [f"{prefix}-{label} {after}"])
                if prefix == "E":
                    cur.closed = True
                    close()
    close()
    return [(c.start, c.end, c.label, c.reasons) for c in chunks]


def read_column(
    path: str,
    data: Optional[bytes] = None,
    *,
    sep: str,
    scheme: str,
    weibo: bool = False,
    words: bool = False,
    tag_columns: Optional[int] = 1,
    ill_formed: str = "repair",
    report: Optional[FileReport] = None,
) -> List[Record]:
    """Read a `char<sep>tag` file with a blank line between sentences.

    scheme: "bio" or "bmes". weibo: the char column ends with a word
    segmentation position (one or more digits) that is stripped. words: the
    first column holds words, joined by single spaces into the text and kept
    as the record's words; a blank word (empty or whitespace only, tag O) is
    left out and a word with whitespace at its edges is trimmed, both counted
    in `report`. tag_columns: how many tag columns follow the token; each is
    decoded on its own and the spans of all are kept (nested corpora such as
    DaN+). None: the layered format (LitBank), as many tag columns as the
    file's first line has, the same on every line, one trailing separator
    allowed. A line of whitespace only separates sentences like a blank one
    (BTC). Ill-formed tag sequences are counted in `report` and repaired or
    dropped.
    """
    if ill_formed not in ILL_FORMED_POLICIES:
        raise ValueError(f"ill_formed must be one of {ILL_FORMED_POLICIES}")
    allowed = "BI" if scheme == "bio" else "BMES"
    name = Path(path).name
    text = read_text(path, data)
    records: List[Record] = []
    chars: List[str] = []
    columns: List[List[str]] = [[] for _ in range(tag_columns or 0)]
    joiner = " " if words else ""
    start_line = 0
    sep_name = "TAB" if sep == "\t" else "space"
    unit = "word" if words else "char"

    def flush() -> None:
        if not chars:
            return
        starts = []
        pos = 0
        for c in chars:
            starts.append(pos)
            pos += len(c) + len(joiner)
        ends = [st + len(c) for st, c in zip(starts, chars)]
        sent = joiner.join(chars)
        where = f"{name} line {start_line}"
        spans = []
        decoded = [chunk for tags in columns for chunk in decode_tags(tags, scheme)]
        for s, e, label, reasons in decoded:
            span = RawSpan(starts[s], ends[e - 1], label)
            if reasons:
                if report is not None:
                    action = "repaired" if ill_formed == "repair" else "dropped"
                    report.problem(
                        ILL_FORMED,
                        f"{where}: {'; '.join(reasons)} -> {action} "
                        f"{label} {sent[span.start:span.end]!r} | {_snippet(sent, span.start)}",
                    )
                if ill_formed == "drop":
                    continue
            spans.append(span)
        records.append(Record(sent, spans, where, words=list(chars) if words else None))
        chars.clear()
        for tags in columns:
            tags.clear()

    blank_only = False  # the current sentence has had blank words only
    for i, line in enumerate(io.StringIO(text, newline="\n"), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            if blank_only and not chars and report is not None:
                report.problem(BLANK_SENTENCE, f"{name} line {start_line}: no word left")
            blank_only = False
            flush()
            continue
        if not chars:
            start_line = i
        if tag_columns is None:  # layered: the first line fixes the number of columns
            parts = (line[: -len(sep)] if line.endswith(sep) else line).split(sep)
            if not columns and len(parts) > 1:
                columns = [[] for _ in range(len(parts) - 1)]
            n_tags = len(columns) or 1
        else:
            parts = line.rsplit(sep, tag_columns)
            n_tags = tag_columns
        if len(parts) != 1 + n_tags or not all(parts[1:]) or not (words or parts[0]):
            expected = unit + f"<{sep_name}>tag" * n_tags
            raise CorpusFormatError(path, f"line {i}", f"expected '{expected}', got {line!r}")
        char, line_tags = parts[0], [t.strip() for t in parts[1:]]
        if words and (not char.strip() or char != char.strip()):
            if any(tag != "O" for tag in line_tags):
                raise CorpusFormatError(
                    path, f"line {i}", f"a word with whitespace ({char!r}) tagged {'/'.join(line_tags)}"
                )
            if report is not None:
                kind = BLANK_TOKEN if not char.strip() else TOKEN_WHITESPACE
                report.problem(kind, f"{name} line {i}: word {char!r} (tag O)")
            char = char.strip()
            if not char:
                blank_only = not chars
                continue
        if weibo:
            m = _WEIBO_CHAR_RE.fullmatch(char)
            if m is None:
                raise CorpusFormatError(
                    path,
                    f"line {i}",
                    f"expected a character followed by a segmentation digit, got {char!r}",
                )
            char = m.group(1)
        for tag in line_tags:
            if tag != "O":
                m = _TAG_RE.match(tag)
                if m is None or m.group(1) not in allowed:
                    raise CorpusFormatError(
                        path,
                        f"line {i}",
                        f"unknown {scheme.upper()} tag {tag!r} (expected O or "
                        f"{'/'.join(allowed)}-TYPE)",
                    )
        chars.append(char)
        for tags, tag in zip(columns, line_tags):
            tags.append(tag)
    if blank_only and not chars and report is not None:
        report.problem(BLANK_SENTENCE, f"{name} line {start_line}: no word left")
    flush()
    return records
