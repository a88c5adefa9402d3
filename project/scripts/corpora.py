"""Readers for the NER corpora and conversion to spaCy Docs.

Every reader turns one file into a list of `Record`s: the raw text plus
character-offset spans (end EXCLUSIVE) and, where the file states it, the
entity string the span should cover. `build_docs` turns records into Docs,
checks every span and counts every problem, and `make_splits` derives the
missing splits. Chinese corpora become one token per character
(`spacy.blank("zh")`). Pre-tokenised word corpora (WNUT 2017, DaN+) keep the
file's tokens as the docs' words (joined by single spaces), and every gold
span is checked against spaCy's own tokenizer for the language: a span whose
edges fall inside one of its tokens is kept and reported, because a pipeline
that tokenizes with spaCy cannot predict it exactly.

A malformed file (bad JSON, a line without a tag, an unknown tag) raises
`CorpusFormatError`, whose message names the file and the line or record.
A span that is merely wrong (out of range, empty, text mismatch, not aligned
to tokens, duplicate, ill-formed tag sequence) is counted in the `FileReport`
with the first few examples, and never silently dropped.

Supported formats (FORMAT argument of convert.py; aliases in brackets):
  cluener            CLUENER2020 JSON lines, label -> {entity -> [[start, end]]}, end inclusive
  cmeee   [cmeee_v2] CBLUE CMeEE JSON array of {text, entities: [{start_idx, end_idx, type, entity}]}, end inclusive, nested
  bio_tab   [msra]   char<TAB>tag, BIO, blank line between sentences (may be read from a .zip)
  bio_space [peoples_daily]  char<SPACE>tag, BIO
  bmes      [resume_ner]     char<SPACE>tag, BMES
  weibo     [weibo_ner]      char+segmentation digit<TAB>tag, BIO with TYPE.NAM / TYPE.NOM labels
  conll_words [wnut17]       token<TAB>tag, BIO, pre-tokenised words (English by default)
  conll_words_nested [danplus]  token<TAB>outer tag<TAB>inner tag, BIO per column, the
                                 union of both columns' spans (Danish by default)
  conll_words_layered [litbank]  token<TAB>L1<TAB>L2<TAB>...<TAB>, one BIO column per nesting
                                 layer, the union of the layers' spans; one file per document,
                                 split by document (English by default)
  btc                 token<TAB>tag, BIO, tweets; the source's btc.{train,dev,test} (English)
"""
from __future__ import annotations

import io
import json
import random
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

SPLITS = ("train", "dev", "test")
MAX_EXAMPLES = 3

# Problem kinds. DROPPED: the span is not in the output. KEPT: it is, maybe repaired.
OUT_OF_RANGE = "out_of_range"
EMPTY = "empty"
TEXT_MISMATCH = "text_mismatch"
MISALIGNED = "misaligned"
DUPLICATE = "duplicate"
ILL_FORMED = "ill_formed_tags"  # kept (repaired) or dropped, depending on the policy
TRIMMED = "trimmed_whitespace"  # kept, after stripping whitespace at the span's edges
ENTS_OVERLAP = "ents_overlap"  # kept in doc.spans, left out of doc.ents
NON_CHAR_DOC = "non_char_tokens"  # a doc whose tokens are not all single characters
# kept: the span's edges fall inside a token of spaCy's tokenizer for the language
TOKENIZER_MISALIGNED = "tokenizer_misaligned"
# word corpora: a word that is empty or whitespace only (tagged O) is left out;
# one with whitespace at its edges is trimmed
BLANK_TOKEN = "blank_token"
TOKEN_WHITESPACE = "token_whitespace"
BLANK_SENTENCE = "blank_sentence"  # a sentence of blank words only: no doc
PROBLEM_KINDS = (
    OUT_OF_RANGE,
    EMPTY,
    TEXT_MISMATCH,
    MISALIGNED,
    DUPLICATE,
    ILL_FORMED,
    TRIMMED,
    ENTS_OVERLAP,
    NON_CHAR_DOC,
    TOKENIZER_MISALIGNED,
    BLANK_TOKEN,
    TOKEN_WHITESPACE,
    BLANK_SENTENCE,
)
ILL_FORMED_POLICIES = ("repair", "drop")


class CorpusFormatError(ValueError):
    """A data file that cannot be parsed. The message names file and position."""

    def __init__(self, path: str, where: str, message: str):
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}{' ' + where if where else ''}: {message}")


@dataclass
class RawSpan:
    start: int  # character offset
    end: int  # character offset, EXCLUSIVE
    label: str
    expected: Optional[str] = None  # the entity string the file gives, if any


@dataclass
class Record:
    text: str
    spans: List[RawSpan]
    where: str  # "file line N" / "file record N", for messages
    labeled: bool = True  # False for records without any annotation field
    words: Optional[List[str]] = None  # the file's tokens, for pre-tokenised corpora


@dataclass
class FileReport:
    path: str
    split: str
    docs: int = 0
    chars: int = 0
    max_len: int = 0
    spans_read: int = 0
    spans_kept: int = 0
    ents: int = 0
    labels: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    examples: Dict[str, List[str]] = field(default_factory=dict)
    unlabeled: bool = False

    def problem(self, kind: str, example: str, n: int = 1) -> None:
        self.problems[kind] += n
        examples = self.examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(example)


def _snippet(text: str, start: int = 0, end: int = 0, width: int = 60) -> str:
    """The text, shortened around [start, end) for messages."""
    if len(text) <= width:
        return text
    lo = max(0, min(start, len(text)) - width // 3)
    hi = min(len(text), lo + width)
    return ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < len(text) else "")


# ---------------------------------------------------------------------------
# File access


def read_text(path: str, data: Optional[bytes] = None) -> str:
    """Decode a UTF-8 file (an optional BOM is removed)."""
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise CorpusFormatError(path, "", f"cannot read file ({e.strerror})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CorpusFormatError(path, f"line {line}", "not valid UTF-8")


_SPLIT_RE = re.compile(r"(?<![a-z])(train|dev|test)(?![a-z])")
_SKIP_SUFFIXES = (".md", ".txt", ".py", ".zip", ".gitattributes", ".gitignore")


def _split_of(name: str) -> Optional[str]:
    found = set(_SPLIT_RE.findall(name.lower()))
    return found.pop() if len(found) == 1 else None


def find_split_files(
    input_dir: Path, suffix: Optional[str] = None
) -> Dict[str, Tuple[str, Optional[bytes]]]:
    """Find the train/dev/test files in a corpus folder.

    A file belongs to a split when its name contains `train`, `dev` or `test`
    as a word (msra_train_bio, example.dev, train.char.bmes, CMeEE-V2_dev.json).
    If a split has no plain file, the members of any .zip in the folder are
    searched too (MSRA ships as MSRA.zip). RETURNS split -> (display path,
    bytes or None); bytes is None for a plain file, which is read later.
    """
    if not input_dir.is_dir():
        raise CorpusFormatError(str(input_dir), "", "input folder not found")
    found: Dict[str, List[Tuple[str, Optional[bytes]]]] = {}
    for path in sorted(input_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() in _SKIP_SUFFIXES:
            continue
        if suffix is not None and path.suffix.lower() != suffix:
            continue
        split = _split_of(path.name)
        if split:
            found.setdefault(split, []).append((str(path), None))
    for zpath in sorted(input_dir.glob("*.zip")):
        try:
            with zipfile.ZipFile(zpath) as zf:
                for member in zf.namelist():
                    name = member.rsplit("/", 1)[-1]
                    if not name or name.startswith(".") or member.startswith("__MACOSX"):
                        continue
                    if suffix is not None and not name.lower().endswith(suffix):
                        continue
                    split = _split_of(name)
                    if split and split not in found:
                        found.setdefault("zip:" + split, []).append(
                            (f"{zpath}:{member}", zf.read(member))
                        )
        except zipfile.BadZipFile:
            raise CorpusFormatError(str(zpath), "", "not a valid zip file")
    result: Dict[str, Tuple[str, Optional[bytes]]] = {}
    for key, files in found.items():
        split = key.replace("zip:", "")
        if split in result:
            continue
        if len(files) > 1:
            names = ", ".join(f for f, _ in files)
            raise CorpusFormatError(
                str(input_dir), "", f"more than one {split} file: {names}"
            )
        result[split] = files[0]
    return result


# ---------------------------------------------------------------------------
# JSON formats


def _json_records(path: str, text: str) -> Iterable[Tuple[str, object]]:
    """Records of a JSON array file or a JSON-lines file, with their position."""
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusFormatError(path, f"line {e.lineno}", f"invalid JSON ({e.msg})")
        for i, obj in enumerate(data, 1):
            yield f"record {i}", obj
    else:
        for i, line in enumerate(io.StringIO(text, newline="\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusFormatError(path, f"line {i}", f"invalid JSON ({e.msg})")
            yield f"line {i}", obj


def _get_text(path: str, where: str, obj: object) -> str:
    if not isinstance(obj, dict):
        raise CorpusFormatError(path, where, "expected a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise CorpusFormatError(path, where, 'missing or non-string "text"')
    return text


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def read_cluener(path: str, data: Optional[bytes] = None) -> List[Record]:
    """CLUENER2020: {"text", "label": {type: {entity: [[start, end], ...]}}}, end inclusive."""
    records = []
    name = Path(path).name
    for where, obj in _json_records(path, read_text(path, data)):
        text = _get_text(path, where, obj)
        label = obj.get("label")  # type: ignore[union-attr]
        spans: List[RawSpan] = []
        if label is not None:
            if not isinstance(label, dict):
                raise CorpusFormatError(path, where, '"label" must be an object')
            for etype, mentions in label.items():
                if not isinstance(mentions, dict) or not etype:
                    raise CorpusFormatError(
                        path, where, f'"label"/"{etype}" must map entity strings to offsets'
                    )
                for entity, offsets in mentions.items():
                    if not isinstance(offsets, list):
                        raise CorpusFormatError(
                            path, where, f"offsets of {entity!r} must be a list"
                        )
                    for pair in offsets:
                        if not (
                            isinstance(pair, list)
                            and len(pair) == 2
                            and all(_is_int(x) for x in pair)
                        ):
                            raise CorpusFormatError(
                                path, where, f"bad offsets {pair!r} for {entity!r}"
                            )
                        spans.append(RawSpan(pair[0], pair[1] + 1, etype, entity))
        records.append(Record(text, spans, f"{name} {where}", labeled=label is not None))
    return records


def read_cmeee(path: str, data: Optional[bytes] = None) -> List[Record]:
    """CMeEE v1/v2: [{"text", "entities": [{start_idx, end_idx, type, entity}]}], end inclusive."""
    records = []
    name = Path(path).name
    for where, obj in _json_records(path, read_text(path, data)):
        text = _get_text(path, where, obj)
        entities = obj.get("entities")  # type: ignore[union-attr]
        spans: List[RawSpan] = []
        if entities is not None:
            if not isinstance(entities, list):
                raise CorpusFormatError(path, where, '"entities" must be a list')
            for j, ent in enumerate(entities):
                if not (
                    isinstance(ent, dict)
                    and _is_int(ent.get("start_idx"))
                    and _is_int(ent.get("end_idx"))
                    and isinstance(ent.get("type"), str)
                    and ent.get("type")
                ):
                    raise CorpusFormatError(
                        path,
                        where,
                        f"entity {j} needs integer start_idx/end_idx and a type: {ent!r}",
                    )
                expected = ent.get("entity")
                if expected is not None and not isinstance(expected, str):
                    raise CorpusFormatError(path, where, f'entity {j}: "entity" must be a string')
                spans.append(
                    RawSpan(ent["start_idx"], ent["end_idx"] + 1, ent["type"], expected)
                )
        records.append(Record(text, spans, f"{name} {where}", labeled=entities is not None))
    return records


# ---------------------------------------------------------------------------
# Column (char + tag) formats

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


# ---------------------------------------------------------------------------
# Formats


@dataclass
class FormatSpec:
    name: str
    nested: bool  # nested corpora get doc.spans only, flat ones also doc.ents
    suffix: Optional[str]  # only files with this suffix are considered
    reader: Callable[..., List[Record]]
    description: str
    lang: str = "zh"  # the spaCy language whose tokenizer the docs must suit
    # the split files are in this sub-folder of INPUT_DIR when it exists (BTC)
    subdir: Optional[str] = None
    # a corpus of one file per document with no split of its own (LitBank): the
    # glob of its files under INPUT_DIR, split by document (split_documents)
    documents: Optional[str] = None


def _column_reader(
    sep: str, scheme: str, weibo: bool = False, words: bool = False, tag_columns: Optional[int] = 1
) -> Callable[..., List[Record]]:
    def reader(path, data=None, *, ill_formed="repair", report=None):
        return read_column(
            path, data, sep=sep, scheme=scheme, weibo=weibo, words=words,
            tag_columns=tag_columns, ill_formed=ill_formed, report=report,
        )

    return reader


def _json_reader(fn: Callable[..., List[Record]]) -> Callable[..., List[Record]]:
    def reader(path, data=None, *, ill_formed="repair", report=None):
        return fn(path, data)

    return reader


FORMATS: Dict[str, FormatSpec] = {
    "cluener": FormatSpec(
        "cluener", False, ".json", _json_reader(read_cluener), "CLUENER2020 JSON lines"
    ),
    "cmeee": FormatSpec(
        "cmeee", True, ".json", _json_reader(read_cmeee), "CMeEE v1/v2 JSON (nested)"
    ),
    "bio_tab": FormatSpec("bio_tab", False, None, _column_reader("\t", "bio"), "char<TAB>tag BIO (MSRA)"),
    "bio_space": FormatSpec(
        "bio_space", False, None, _column_reader(" ", "bio"), "char<space>tag BIO (People's Daily)"
    ),
    "bmes": FormatSpec("bmes", False, None, _column_reader(" ", "bmes"), "char<space>tag BMES (Resume)"),
    "weibo": FormatSpec(
        "weibo", False, None, _column_reader("\t", "bio", weibo=True), "char+seg<TAB>tag BIO (Weibo)"
    ),
    "conll_words": FormatSpec(
        "conll_words", False, None, _column_reader("\t", "bio", words=True),
        "word<TAB>tag BIO, pre-tokenised (WNUT 2017)", lang="en",
    ),
    "conll_words_nested": FormatSpec(
        "conll_words_nested", True, None, _column_reader("\t", "bio", words=True, tag_columns=2),
        "word<TAB>tag<TAB>tag BIO, two nested tag columns (DaN+)", lang="da",
    ),
    "conll_words_layered": FormatSpec(
        "conll_words_layered", True, ".tsv", _column_reader("\t", "bio", words=True, tag_columns=None),
        "word<TAB>tag<TAB>... BIO, one tag column per nesting layer, one file per document (LitBank)",
        lang="en", documents="entities/tsv/*.tsv",
    ),
    "btc": FormatSpec(
        "btc", False, None, _column_reader("\t", "bio", words=True),
        "word<TAB>tag BIO, pre-tokenised tweets, btc.{train,dev,test} (Broad Twitter Corpus)",
        lang="en", subdir="train_dev_test_conll",
    ),
}
ALIASES = {
    "cmeee_v2": "cmeee",
    "msra": "bio_tab",
    "peoples_daily": "bio_space",
    "resume_ner": "bmes",
    "resume": "bmes",
    "weibo_ner": "weibo",
    "wnut17": "conll_words",
    "danplus": "conll_words_nested",
    "litbank": "conll_words_layered",
}


def get_format(name: str) -> FormatSpec:
    key = ALIASES.get(name, name)
    if key not in FORMATS:
        choices = ", ".join(list(FORMATS) + list(ALIASES))
        raise KeyError(f"unknown format {name!r}; choose one of: {choices}")
    return FORMATS[key]


# ---------------------------------------------------------------------------
# Docs


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


# ---------------------------------------------------------------------------
# Splits

TRAIN_DEV_TEST = (0.8, 0.1, 0.1)  # a single labeled split
TRAIN_DEV_FROM_TEST = 0.8  # dev + test labeled, no train: official test -> train/dev
DEV_FROM_TRAIN = 0.05  # train + test labeled, no dev
# train + dev labeled, test unlabeled (CLUENER): the official dev becomes the
# held-out test, and this share of train (seeded) the dev set for model selection.
DEV_FROM_TRAIN_WHEN_TEST_UNLABELED = 0.1


def _seeded_parts(n: int, fractions: Sequence[float], seed: int) -> List[List[int]]:
    """Shuffle range(n) with `seed` and cut it by `fractions` (the last part
    gets the rest; every part gets at least one item when n allows, so a tiny
    corpus still has a dev set). Each part is sorted again, so it keeps the
    file order."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    parts, start = [], 0
    for frac in fractions[:-1]:
        size = int(round(n * frac))
        if n >= len(fractions):
            size = max(size, 1)
        parts.append(sorted(idx[start : start + size]))
        start += size
    parts.append(sorted(idx[start:]))
    return parts


def split_documents(input_dir: Path, pattern: str, seed: int = 0) -> Tuple[Dict[str, List[Path]], List[str]]:
    """The document files of a corpus without a split of its own (LitBank),
    split by document: the files matching `pattern` under `input_dir` (or, if
    none, `input_dir/*<suffix of pattern>`), sorted by name, shuffled with
    `random.Random(seed)` and cut 80/10/10 into train/dev/test, each part in
    name order. With seed 0 this is the split LitBank's PROVENANCE.md proposes.
    RETURNS split -> files, and notes naming the held-out documents."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise CorpusFormatError(str(input_dir), "", "input folder not found")
    files = sorted(p for p in input_dir.glob(pattern) if p.is_file())
    if not files:
        files = sorted(p for p in input_dir.glob("*" + Path(pattern).suffix) if p.is_file())
    if not files:
        raise CorpusFormatError(str(input_dir), "", f"no document files ({pattern})")
    parts = _seeded_parts(len(files), TRAIN_DEV_TEST, seed)
    out = {s: [files[i] for i in part] for s, part in zip(SPLITS, parts)}
    pct = "/".join(f"{f:.0%}".rstrip("%") for f in TRAIN_DEV_TEST)
    notes = [f"{len(files)} documents split by document {pct} (seed {seed}) into train/dev/test"]
    notes += [f"{s} documents: {', '.join(p.stem for p in out[s])}" for s in ("dev", "test")]
    return out, notes


def make_splits(labeled: Dict[str, list], seed: int = 0) -> Tuple[Dict[str, list], List[str]]:
    """Build train/dev/test from the labeled official splits that exist.

    - train, dev, test: used as they are.
    - train, dev (test unlabeled, CLUENER): the official dev is test, and a
      seeded 10% of train is dev, so that models are chosen on data that is
      not the reported test.
    - train, test (no dev, MSRA): a seeded 5% of train becomes dev.
    - dev, test (no train, People's Daily): official test is split 80/20
      (seeded) into train/dev; official dev becomes test.
    - one split only (CMeEE: dev): seeded 80/10/10 into train/dev/test.
    RETURNS the splits and a list of notes describing what was done.
    """
    have = tuple(s for s in SPLITS if labeled.get(s))
    out: Dict[str, list] = {}
    notes: List[str] = []

    def pick(items, idx):
        return [items[i] for i in idx]

    if have == SPLITS:
        out = {s: labeled[s] for s in SPLITS}
        notes.append("official train/dev/test used as they are")
    elif have == ("train", "dev"):
        share = DEV_FROM_TRAIN_WHEN_TEST_UNLABELED
        dev_idx, train_idx = _seeded_parts(len(labeled["train"]), (share, 1 - share), seed)
        out = {
            "train": pick(labeled["train"], train_idx),
            "dev": pick(labeled["train"], dev_idx),
            "test": labeled["dev"],
        }
        notes.append(
            f"no labeled test: the official dev set is test; a seeded {share:.0%} of official "
            f"train (seed {seed}) is dev"
        )
    elif have == ("train", "test"):
        dev_idx, train_idx = _seeded_parts(len(labeled["train"]), (DEV_FROM_TRAIN, 1 - DEV_FROM_TRAIN), seed)
        out = {
            "train": pick(labeled["train"], train_idx),
            "dev": pick(labeled["train"], dev_idx),
            "test": labeled["test"],
        }
        notes.append(f"no dev: a seeded {DEV_FROM_TRAIN:.0%} of official train (seed {seed}) is dev")
    elif have == ("dev", "test"):
        tr, dv = _seeded_parts(len(labeled["test"]), (TRAIN_DEV_FROM_TEST, 1 - TRAIN_DEV_FROM_TEST), seed)
        out = {
            "train": pick(labeled["test"], tr),
            "dev": pick(labeled["test"], dv),
            "test": labeled["dev"],
        }
        notes.append(
            f"no train: official test split {TRAIN_DEV_FROM_TEST:.0%}/{1 - TRAIN_DEV_FROM_TEST:.0%} "
            f"(seed {seed}) into train/dev; official dev is test"
        )
    elif len(have) == 1:
        only = labeled[have[0]]
        parts = _seeded_parts(len(only), TRAIN_DEV_TEST, seed)
        out = {s: pick(only, p) for s, p in zip(SPLITS, parts)}
        pct = "/".join(f"{f:.0%}".rstrip("%") for f in TRAIN_DEV_TEST)
        notes.append(f"only {have[0]} is labeled: split {pct} (seed {seed}) into train/dev/test")
    else:
        raise ValueError("no labeled split found")
    return out, notes
