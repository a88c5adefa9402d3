"""The shipped configs in configs/ are complete and train."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin, Span
from spacy.util import load_config, load_model_from_config

from .conftest import FLAT_DATA, NESTED_DATA, SPANS_KEY, make_examples

CONFIG_DIR = Path(__file__).parent.parent / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.cfg"))
ARCHITECTURES = [
    "spacy-globalpointer.GlobalPointer.v1",
    "spacy-globalpointer.EfficientGlobalPointer.v1",
]


def write_corpus(path: Path, data, ents: bool) -> Path:
    nlp = spacy.blank("zh")
    docs = [eg.reference for eg in make_examples(nlp, data, ents=ents)]
    DocBin(docs=docs * 4, store_user_data=True).to_disk(path)
    return path


LANGS = {
    "globalpointer_tok2vec.cfg": "zh",
    "globalpointer_trf.cfg": "zh",
    "globalpointer_tok2vec_words.cfg": "en",
    "globalpointer_extractor_tok2vec.cfg": "zh",
}


def test_configs_exist():
    assert {p.name for p in CONFIGS} == set(LANGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_validates(path):
    config = load_config(path)
    nlp = load_model_from_config(config, auto_fill=False, validate=True)
    assert {"globalpointer_ner", "globalpointer_extractor"} & set(nlp.pipe_names)
    assert config["nlp"]["lang"] == LANGS[path.name]


@pytest.mark.parametrize("lang,text,tokens", [
    ("en", "Obama's tweets", ["Obama", "'s", "tweets"]),
    ("de", "Angela Merkels Rede.", ["Angela", "Merkels", "Rede", "."]),
    ("da", "Kjeld Christensen går.", ["Kjeld", "Christensen", "går", "."]),
])
def test_words_config_trains_in_other_languages(tmp_path, lang, text, tokens):
    """The word config trains on any spaCy language with `--nlp.lang`, with
    that language's tokenizer."""
    nlp = spacy.blank(lang)
    doc = nlp.make_doc(text)
    doc.spans[SPANS_KEY] = [Span(doc, 0, 1, label="PER")]
    corpus = tmp_path / "train.spacy"
    DocBin(docs=[doc] * 8).to_disk(corpus)
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), "nlp.lang": lang,
                 "training.max_steps": 4, "training.eval_frequency": 2}
    spacy_train(CONFIG_DIR / "globalpointer_tok2vec_words.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert trained.lang == lang
    assert [t.text for t in trained(text)] == tokens
    assert trained.get_pipe("globalpointer_ner").labels == ("PER",)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("annotate_ents", [False, True], ids=["nested", "flat"])
def test_tok2vec_config_trains(tmp_path, architecture, annotate_ents):
    data = FLAT_DATA if annotate_ents else NESTED_DATA
    corpus = write_corpus(tmp_path / "train.spacy", data, ents=annotate_ents)
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "vars.annotate_ents": annotate_ents,
        "components.globalpointer_ner.model.@architectures": architecture,
        "training.max_steps": 6,
        "training.eval_frequency": 3,
    }
    spacy_train(CONFIG_DIR / "globalpointer_tok2vec.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    meta = nlp.meta["performance"]
    assert "spans_sc_f" in meta and "spans_sc_per_type" in meta
    # Entity scores only where the pipe writes entities: no made-up zeros.
    assert ("ents_f" in meta and "ents_per_type" in meta) == annotate_ents
    examples = make_examples(nlp, data, ents=annotate_ents)
    assert ("ents_f" in nlp.evaluate(examples)) == annotate_ents
    doc = nlp("北京大学在北京")
    assert SPANS_KEY in doc.spans
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("pointer")
    assert head.attrs["efficient"] == architecture.endswith("EfficientGlobalPointer.v1")


def test_transformer_config_trains_with_tiny_bert(tmp_path, tiny_bert):
    pytest.importorskip("spacy_transformers")
    corpus = write_corpus(tmp_path / "train.spacy", NESTED_DATA, ents=False)
    config = load_config(CONFIG_DIR / "globalpointer_trf.cfg")
    assert config["vars"]["transformer_name"] == "bert-base-chinese"
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "vars.transformer_name": str(tiny_bert),
        "system.gpu_allocator": None,
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        "training.accumulate_gradient": 1,
    }
    spacy_train(CONFIG_DIR / "globalpointer_trf.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["transformer", "globalpointer_ner"]
    doc = nlp("北京大学在北京")
    assert SPANS_KEY in doc.spans
    assert doc._.trf_data is not None


@pytest.mark.parametrize(
    "loss",
    [
        ["--vars.loss", "spacy-globalpointer.SpanSoftmaxLoss.v1"],
        ["--vars.loss", "spacy-globalpointer.ExpectedF1Loss.v1",
         "--components.globalpointer_extractor.loss.entropy_weight", "0.1"],
        ["--vars.loss", "spacy-globalpointer.MultiLabelAnswerLoss.v1"],
    ],
    ids=["softmax", "expected_f1", "multilabel"],
)
def test_extractor_config_trains(tmp_path, loss):
    """The single-answer config trains from question docs in a DocBin: the
    corpus reader re-tokenizes them, so the context comes from the reference
    in training and from the separator at evaluation."""
    from spacy.cli._util import parse_config_overrides
    from spacy_globalpointer import make_question_doc

    nlp = spacy.blank("zh")
    data = [("谁发明了电话？", "贝尔发明了电话。", (0, 2)), ("北京在哪里？", "北京位于华北平原。", (4, 8))]
    docs = []
    for question, context, answer in data:
        doc = make_question_doc(nlp, question, context, answers={"ANSWER": answer})
        doc.user_data["answers"] = {"ANSWER": [context[answer[0]:answer[1]]]}
        docs.append(doc)
    corpus = tmp_path / "train.spacy"
    DocBin(docs=docs * 4, store_user_data=True).to_disk(corpus)
    overrides = parse_config_overrides(loss)
    overrides.update({
        "paths.train": str(corpus), "paths.dev": str(corpus),
        "training.max_steps": 6, "training.eval_frequency": 3,
    })
    spacy_train(CONFIG_DIR / "globalpointer_extractor_tok2vec.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.pipe_names == ["tok2vec", "globalpointer_extractor"]
    assert {"answer_f1", "answer_em"} <= set(trained.meta["performance"])
    doc = trained(make_question_doc(trained, "谁发明了电话？", "贝尔发明了电话。"))
    (span,) = doc.spans["answer"]
    assert span.start >= 12  # in the context, not in the question
