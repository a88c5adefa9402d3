"""The shipped configs in configs/ are complete and train."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
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


def test_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {"globalpointer_tok2vec.cfg", "globalpointer_trf.cfg"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_validates(path):
    config = load_config(path)
    nlp = load_model_from_config(config, auto_fill=False, validate=True)
    assert "globalpointer_ner" in nlp.pipe_names
    assert config["nlp"]["lang"] == "zh"


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
