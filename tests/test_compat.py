"""Compatibility: pipelines saved by an earlier version load and predict the
same, and the old module paths still import.

The pipelines in tests/data/saved were trained and saved, and their
predictions recorded, by tests/data/make_saved_pipelines.py with the code
before the restructuring of issue 18 (see `made_by` in predictions.json).
"""
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
