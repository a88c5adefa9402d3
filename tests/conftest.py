"""Shared fixtures: tiny nested/flat corpora (Chinese, English) and tiny random BERTs on disk."""
import os
import string
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

# The project's scripts are the package `scripts` of project/ (run there as
# `python -m scripts.X`); the tests import it from there.
PROJECT_DIR = str(Path(__file__).resolve().parents[1] / "project")
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

# Nothing may be fetched from a model hub during the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPANS_KEY = "sc"

# (text, [(start_char, end_char, label)]) with nested spans; includes an empty doc.
NESTED_DATA: List[Tuple[str, List[Tuple[int, int, str]]]] = [
    ("北京大学在北京", [(0, 4, "ORG"), (0, 2, "LOC"), (5, 7, "LOC")]),
    ("我爱上海交通大学", [(2, 8, "ORG"), (2, 4, "LOC")]),
    ("张三去了杭州西湖", [(0, 2, "PER"), (4, 8, "LOC"), (4, 6, "LOC")]),
    ("", []),
]

# English (word-tokenised) nested data for the word-level configs.
EN_NESTED_DATA: List[Tuple[str, List[Tuple[int, int, str]]]] = [
    ("Barack Obama visited the University of Chicago",
     [(0, 12, "PER"), (25, 46, "ORG"), (39, 46, "LOC")]),
    ("Angela Merkel lives in Berlin", [(0, 13, "PER"), (23, 29, "LOC")]),
    ("The Bank of England is in London", [(4, 19, "ORG"), (12, 19, "LOC"), (26, 32, "LOC")]),
    ("", []),
]

# Flat data for the `doc.ents` mode.
FLAT_DATA: List[Tuple[str, List[Tuple[int, int, str]]]] = [
    ("李四住在南京", [(0, 2, "PER"), (4, 6, "LOC")]),
    ("王五在广州工作", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("深圳很热", [(0, 2, "LOC")]),
    ("", []),
]


def make_examples(
    nlp: Language, data, *, ents: bool = False, key: str = SPANS_KEY
) -> List[Example]:
    """Examples with gold in reference.spans[key] (and reference.ents if ents)."""
    examples = []
    for text, spans in data:
        pred = nlp.make_doc(text)
        ref = nlp.make_doc(text)
        gold = [ref.char_span(s, e, label=label) for s, e, label in spans]
        assert all(span is not None for span in gold)
        ref.spans[key] = gold
        if ents:
            ref.ents = gold
        examples.append(Example(pred, ref))
    return examples


def spans_of(doc, key: str = SPANS_KEY):
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


def gold_of(data) -> Dict[str, List[Tuple[int, int, str]]]:
    return {text: sorted(spans) for text, spans in data}


def save_tiny_bert(path: Path, vocab: List[str], **tokenizer_cfg) -> Path:
    """Save a randomly initialised 2-layer BERT with this word-piece vocab
    (after the special tokens) like a hub model, so spacy-transformers can load
    it by path."""
    transformers = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + vocab
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    transformers.BertModel(config).save_pretrained(path)
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"), **tokenizer_cfg)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random BERT with a character vocab (for Chinese)."""
    chars = sorted({c for text, _ in NESTED_DATA + FLAT_DATA for c in text})
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), chars)


@pytest.fixture(scope="session")
def tiny_bert_en(tmp_path_factory) -> Path:
    """A tiny random uncased BERT with an English word-piece vocab: the words
    of EN_NESTED_DATA, then letters, digits and punctuation as word starts and
    as `##` continuations, so any ASCII word splits into known pieces."""
    words = sorted({w.lower() for text, _ in EN_NESTED_DATA for w in text.split()})
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = words + [c for c in chars if c not in words] + ["##" + c for c in chars]
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert_en"), vocab, do_lower_case=True)


@pytest.fixture
def zh_nlp() -> Language:
    return spacy.blank("zh")


# Two small trained `globalpointer_ner` pipelines on disk, shared by the
# threshold, tuning and threshold-sweep tests.

PIPE = "globalpointer_ner"


def _train(config, data, ents, n_iter=60):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe(PIPE, config=config)
    examples = make_examples(nlp, data, ents=ents)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    return nlp, examples


@pytest.fixture(scope="session")
def nested(tmp_path_factory):
    """A tiny nested model on disk, and its training data as a DocBin."""
    nlp, examples = _train({}, NESTED_DATA, ents=False)
    path = tmp_path_factory.mktemp("nested")
    nlp.to_disk(path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(path / "dev.spacy")
    return path


@pytest.fixture(scope="session")
def flat(tmp_path_factory):
    """A tiny flat model (doc.ents) on disk, and its data as a DocBin."""
    nlp, examples = _train({"annotate_ents": True}, FLAT_DATA, ents=True)
    path = tmp_path_factory.mktemp("flat")
    nlp.to_disk(path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(path / "dev.spacy")
    return path

