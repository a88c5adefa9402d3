"""Compatibility: pipelines saved by an earlier version load and predict the
same, the old module paths still import, and the entry points resolve.

The pipelines in tests/data/saved were trained and saved, and their
predictions recorded, by tests/data/make_saved_pipelines.py with the code
before the restructuring of issue 18 (see `made_by` in predictions.json).
"""
import configparser
import importlib
import importlib.metadata
import json
from pathlib import Path

import numpy
import pytest
import spacy

SAVED = Path(__file__).parent / "data" / "saved"
RECORD = json.loads((SAVED / "predictions.json").read_text(encoding="utf8"))
LOW_THRESHOLD = 0.01


def _predict(nlp, texts, key):
    out = []
    for doc in nlp.pipe(texts):
        group = doc.spans.get(key, [])
        out.append({
            "text": doc.text,
            "spans": [[s.start, s.end, s.label_] for s in group],
            "scores": [float(x) for x in group.attrs.get("scores", [])] if len(group) else [],
            "ents": [[e.start, e.end, e.label_] for e in doc.ents],
        })
    return out


def _assert_same(got, expected):
    assert [g["text"] for g in got] == [e["text"] for e in expected]
    for g, e in zip(got, expected):
        assert g["spans"] == e["spans"], g["text"]
        assert g["ents"] == e["ents"], g["text"]
        # float32 scores: equal up to what another BLAS may change in the
        # last bits (on the machine that saved them they are bit-identical).
        numpy.testing.assert_allclose(g["scores"], e["scores"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["ner_nested", "ner_ents"])
def test_saved_ner_pipeline_predicts_the_same(name):
    nlp = spacy.load(SAVED / name)
    assert nlp.pipe_names == ["globalpointer_ner"]
    texts = [r["text"] for r in RECORD[name]]
    _assert_same(_predict(nlp, texts, "sc"), RECORD[name])
    nlp.get_pipe("globalpointer_ner").cfg["threshold"] = LOW_THRESHOLD
    _assert_same(_predict(nlp, texts, "sc"), RECORD[f"{name}_low_threshold"])


def test_saved_extractor_pipeline_predicts_the_same():
    nlp = spacy.load(SAVED / "extractor")
    assert nlp.pipe_names == ["globalpointer_extractor"]
    texts = [r["text"] for r in RECORD["extractor"]]
    _assert_same(_predict(nlp, texts, "answer"), RECORD["extractor"])


def test_saved_pipeline_bytes_round_trip():
    """The loaded pipe re-serializes to what the current code reads back."""
    nlp = spacy.load(SAVED / "ner_nested")
    nlp2 = spacy.blank("zh").from_config(nlp.config)
    nlp2.from_bytes(nlp.to_bytes())
    texts = [r["text"] for r in RECORD["ner_nested"]]
    _assert_same(_predict(nlp2, texts, "sc"), RECORD["ner_nested"])


OLD_MODULES = [
    "pipeline", "extractor", "answer_losses", "answer_scorer", "answer_decoding", "decoding",
    "gold", "loss", "scorer", "thresholds", "tuning", "question_docs",
]


@pytest.mark.parametrize("old", OLD_MODULES)
def test_old_module_paths_still_import(old):
    """Each old module path holds the names it had, as the very objects of
    their new place (so isinstance checks and pickles keep working)."""
    module = importlib.import_module(f"spacy_globalpointer.{old}")
    names = getattr(module, "__all__", None)
    if old == "extractor":  # the module became the package of the component
        names = ["GlobalPointerExtractor", "make_globalpointer_extractor"]
    else:
        assert "kept for compatibility" in " ".join(module.__doc__.split())
    assert names
    for name in names:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)
        # Thin: nothing is defined at the old path, every name comes from its new module.
        assert home != module.__name__, name
        if home is not None and home.startswith("spacy_globalpointer"):
            assert getattr(importlib.import_module(home), name) is value


def test_entry_points_resolve():
    """The entry points in setup.cfg (the new module paths) and those of the
    installed distribution (which may still name the old ones) load."""
    parser = configparser.ConfigParser()
    parser.read(Path(__file__).parents[1] / "setup.cfg", encoding="utf8")
    declared = parser["options.entry_points"]
    for group in ("spacy_factories", "spacy_architectures", "spacy_scorers", "thinc_losses"):
        for line in declared[group].strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            module, attr = target.split(":")
            assert callable(getattr(importlib.import_module(module), attr)), name
        for entry in importlib.metadata.entry_points(group=group):
            if entry.value.startswith("spacy_globalpointer"):
                assert callable(entry.load()), entry
