"""The corpus registry: every FORMAT (and corpus-name alias) of convert.py
with its reader, language, nesting and where its files are."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .columns import read_column
from .json_formats import read_cluener, read_cmeee
from .records import Record

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
