"""What the readers produce and what conversion counts: the problem kinds,
`CorpusFormatError`, `RawSpan`, `Record`, `FileReport`, and reading a file's
text."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

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
