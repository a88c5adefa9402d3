"""Thresholds (`ner/thresholds.py`): 0 and 1, per-type and entity thresholds,
`max_positive`, checks wherever the settings change, and `spacy
find-threshold`. (Tuning them is in ner/test_tuning; the fixtures `nested` and
`flat` are in tests/conftest.py.)"""
import subprocess
import sys

import pytest
import spacy
import srsly

from ..conftest import NESTED_DATA, PIPE, SPANS_KEY


def _spans(nlp, texts=None):
    texts = texts or [t for t, _ in NESTED_DATA]
    return [[(s.start, s.end, s.label_) for s in doc.spans[SPANS_KEY]] for doc in nlp.pipe(texts)]


def test_thresholds_zero_and_one(nested):
    nlp = spacy.load(nested / "model")
    gp = nlp.get_pipe(PIPE)
    gp.cfg["threshold"] = 0.0
    texts = [t for t, _ in NESTED_DATA]
    every = _spans(nlp, texts)
    n_labels = len(gp.labels)
    for text, spans in zip(texts, every):
        n = len(text)  # one token per character; all docs are shorter than max_length
        assert len(spans) == n * (n + 1) // 2 * n_labels
    gp.cfg["threshold"] = 1.0
    assert all(spans == [] for spans in _spans(nlp, texts))


def test_per_type_thresholds(nested):
    nlp = spacy.load(nested / "model")
    gp = nlp.get_pipe(PIPE)
    default = _spans(nlp)
    assert any(label == "LOC" for doc in default for *_, label in doc)
    gp.cfg["thresholds"] = {"LOC": 1.0}
    without_loc = _spans(nlp)
    assert without_loc == [[s for s in doc if s[2] != "LOC"] for doc in default]
    gp.cfg["thresholds"] = {"LOC": 0.0}
    assert sum(len(d) for d in _spans(nlp)) > sum(len(d) for d in default)


def test_max_positive_keeps_the_best_labels(nested):
    nlp = spacy.load(nested / "model")
    gp = nlp.get_pipe(PIPE)
    gp.cfg["threshold"] = 0.0
    gp.cfg["max_positive"] = 1
    doc = nlp("北京大学在北京")
    positions = [(s.start, s.end) for s in doc.spans[SPANS_KEY]]
    assert len(positions) == len(set(positions)) == 7 * 8 // 2
    # The label kept is the one the model scores highest.
    gp.cfg["max_positive"] = None
    full_doc = nlp("北京大学在北京")
    full = full_doc.spans[SPANS_KEY]
    best = {}
    for span, score in zip(full, full.attrs["scores"]):
        key = (span.start, span.end)
        if key not in best or score > best[key][1]:
            best[key] = (span.label_, score)
    assert {(s.start, s.end): s.label_ for s in doc.spans[SPANS_KEY]} == {k: v[0] for k, v in best.items()}


def test_ents_threshold_is_separate(flat):
    nlp = spacy.load(flat / "model")
    gp = nlp.get_pipe(PIPE)
    text = "王五在广州工作"
    doc = nlp(text)
    assert len(doc.ents) == 2 and len(doc.spans[SPANS_KEY]) == 2
    gp.cfg["ents_threshold"] = 1.0
    doc = nlp(text)
    assert len(doc.ents) == 0 and len(doc.spans[SPANS_KEY]) == 2
    gp.cfg["ents_threshold"] = None
    gp.cfg["threshold"] = 1.0
    gp.cfg["ents_thresholds"] = {"PER": 0.5}
    doc = nlp(text)
    assert [e.label_ for e in doc.ents] == ["PER"] and len(doc.spans[SPANS_KEY]) == 0


@pytest.mark.parametrize(
    "setting,value,code",
    [
        ("threshold", 1.5, "GP001"),
        ("ents_threshold", -1, "GP001"),
        ("thresholds", {"LOC": "high"}, "GP001"),
        ("thresholds", ["LOC", 0.3], "GP009"),
        ("thresholds", {"NOPE": 0.3}, "GP011"),
        ("max_positive", 0, "GP010"),
    ],
)
def test_bad_thresholds_at_run_time(nested, setting, value, code):
    nlp = spacy.load(nested / "model")
    nlp.get_pipe(PIPE).cfg[setting] = value
    with pytest.raises(ValueError, match=rf"{code}.*'{PIPE}'"):
        nlp("北京大学在北京")


def test_bad_threshold_in_saved_cfg(nested, tmp_path):
    nlp = spacy.load(nested / "model")
    nlp.to_disk(tmp_path)
    cfg_path = tmp_path / PIPE / "cfg"
    cfg = srsly.read_json(cfg_path)
    cfg["threshold"] = 1.5
    srsly.write_json(cfg_path, cfg)
    with pytest.raises(ValueError, match=r"GP001.*threshold.*1\.5"):
        spacy.load(tmp_path)


def _find_threshold(model, data, key, score):
    cmd = [sys.executable, "-m", "spacy", "find-threshold", str(model), str(data), PIPE, key, score, "-n", "11"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_spacy_find_threshold_for_spans(nested):
    out = _find_threshold(nested / "model", nested / "dev.spacy", "threshold", "spans_sc_f")
    # Every trial from 0.0 to 1.0 ran, and a best threshold was found.
    assert "0.0 " in out and "1.0 " in out
    assert "Best threshold" in out


def test_spacy_find_threshold_for_ents(flat):
    out = _find_threshold(flat / "model", flat / "dev.spacy", "ents_threshold", "ents_f")
    assert "0.0 " in out and "1.0 " in out
    assert "Best threshold" in out
