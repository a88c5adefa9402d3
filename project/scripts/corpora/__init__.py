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

The modules: `records` (what the readers produce and what is counted),
`json_formats` (CLUENER, CMeEE), `columns` (the char and word column
formats), `formats` (the registry of formats and aliases), `docs` (records to
checked Docs), `splits` (finding the split files, deriving missing splits).
Everything is importable from `scripts.corpora` itself.

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
from .columns import decode_tags, read_column
from .docs import build_doc, build_docs
from .formats import ALIASES, FORMATS, FormatSpec, get_format
from .json_formats import read_cluener, read_cmeee
from .records import (BLANK_SENTENCE, BLANK_TOKEN, DUPLICATE, EMPTY, ENTS_OVERLAP, ILL_FORMED, ILL_FORMED_POLICIES,
                      MAX_EXAMPLES, MISALIGNED, NON_CHAR_DOC, OUT_OF_RANGE, PROBLEM_KINDS, SPLITS, TEXT_MISMATCH,
                      TOKEN_WHITESPACE, TOKENIZER_MISALIGNED, TRIMMED, CorpusFormatError, FileReport, RawSpan, Record,
                      read_text)
from .splits import (DEV_FROM_TRAIN, DEV_FROM_TRAIN_WHEN_TEST_UNLABELED, TRAIN_DEV_FROM_TEST, TRAIN_DEV_TEST,
                     _seeded_parts, find_split_files, make_splits, split_documents)

__all__ = [
    "ALIASES", "BLANK_SENTENCE", "BLANK_TOKEN", "DEV_FROM_TRAIN", "DEV_FROM_TRAIN_WHEN_TEST_UNLABELED", "DUPLICATE",
    "EMPTY", "ENTS_OVERLAP", "FORMATS", "ILL_FORMED", "ILL_FORMED_POLICIES", "MAX_EXAMPLES", "MISALIGNED",
    "NON_CHAR_DOC", "OUT_OF_RANGE", "PROBLEM_KINDS", "SPLITS", "TEXT_MISMATCH", "TOKEN_WHITESPACE",
    "TOKENIZER_MISALIGNED", "TRAIN_DEV_FROM_TEST", "TRAIN_DEV_TEST", "TRIMMED", "CorpusFormatError", "FileReport",
    "FormatSpec", "RawSpan", "Record", "_seeded_parts", "build_doc", "build_docs", "decode_tags",
    "find_split_files", "get_format", "make_splits", "read_cluener", "read_cmeee", "read_column", "read_text",
    "split_documents",
]
