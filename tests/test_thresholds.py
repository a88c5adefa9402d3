"""Thresholds: 0 and 1, per-type and entity thresholds, `max_positive`,
checks wherever the settings change, `spacy find-threshold`, and the
`tune-thresholds` command."""
import subprocess
import sys

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from thinc.api import fix_random_seed

from spacy_globalpointer.spans import Candidates
from spacy_globalpointer.ner.tuning import DevSet, ent_counts, span_counts, tune

from .conftest import FLAT_DATA, NESTED_DATA, SPANS_KEY, make_examples

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


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """A tiny nested model on disk, and its training data as a DocBin."""
    nlp, examples = _train({}, NESTED_DATA, ents=False)
    path = tmp_path_factory.mktemp("nested")
    nlp.to_disk(path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(path / "dev.spacy")
    return path


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """A tiny flat model (doc.ents) on disk, and its data as a DocBin."""
    nlp, examples = _train({"annotate_ents": True}, FLAT_DATA, ents=True)
    path = tmp_path_factory.mktemp("flat")
    nlp.to_disk(path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(path / "dev.spacy")
    return path


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


# ---------------------------------------------------------------- tuning


def _dev(rows, gold, labels=("A", "B"), lengths=None):
    """A DevSet from (doc, start, end, label, score) rows and per-doc gold."""
    cols = list(zip(*rows))
    cands = Candidates(
        *(numpy.asarray(c, dtype="int64") for c in cols[:4]), numpy.asarray(cols[4], dtype="float32")
    )
    n_docs = len(gold)
    return DevSet(cands, gold, [[] for _ in range(n_docs)], lengths or [10] * n_docs, labels)


def test_tune_spans_finds_the_separating_threshold():
    # Label A: gold spans at 0.3, wrong ones at 0.1; label B is right at 0.5.
    rows = [(0, i, i + 1, 0, 0.3) for i in range(3)] + [(0, i, i + 1, 0, 0.1) for i in range(3, 6)]
    rows += [(1, 0, 2, 1, 0.9), (1, 2, 4, 1, 0.2)]
    gold = [{(0, 1, 0), (1, 2, 0), (2, 3, 0)}, {(0, 2, 1)}]
    dev = _dev(rows, gold)
    start = numpy.array([0.5, 0.5])
    assert span_counts(dev, start).prf()[2] < 1.0
    tuned = tune(dev, start, "spans", min_support=1)
    assert 0.1 <= tuned[0] < 0.3  # drops the 0.1 spans, keeps the 0.3 ones
    assert tuned[1] == pytest.approx(0.5)  # already perfect: kept
    assert span_counts(dev, tuned).prf()[2] == 1.0
    # Below min_support, labels keep their threshold.
    assert list(tune(dev, start, "spans", min_support=10)) == [0.5, 0.5]


def test_tune_ents_resolves_label_competition():
    # A wrong A (0.6) overlaps a gold B (0.4): only raising A and lowering B helps.
    dev = _dev([(0, 0, 2, 0, 0.6), (0, 0, 3, 1, 0.4)], [{(0, 3, 1)}], lengths=[5])
    start = numpy.array([0.5, 0.5])
    assert ent_counts(dev, start, overwrite=False).prf()[2] == 0.0
    tuned = tune(dev, start, "ents", min_support=0)
    assert tuned[0] >= 0.6 and tuned[1] < 0.4
    assert ent_counts(dev, tuned, overwrite=False).prf()[2] == 1.0


@pytest.mark.parametrize("which", ["nested", "flat"])
def test_tune_thresholds_command(which, request, tmp_path):
    path = request.getfixturevalue(which)
    out = tmp_path / "tuned"
    cmd = [sys.executable, "-m", "spacy_globalpointer", "tune-thresholds",
           str(path / "model"), str(path / "dev.spacy"), str(out), "--min-support", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "P/R/F before" in result.stdout and "(micro)" in result.stdout
    nlp = spacy.load(out)
    gp = nlp.get_pipe(PIPE)
    setting = "ents_thresholds" if which == "flat" else "thresholds"
    assert set(gp.cfg[setting]) == set(gp.labels)
    # The saved config says the same as the component's cfg.
    assert dict(nlp.config["components"][PIPE][setting]) == gp.cfg[setting]


def test_tune_thresholds_command_errors(nested, tmp_path):
    cmd = [sys.executable, "-m", "spacy_globalpointer", "tune-thresholds",
           str(nested / "model"), str(nested / "dev.spacy"), str(tmp_path / "x"), "--target", "ents"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1
    assert "annotate_ents = false" in " ".join(result.stdout.split())  # wasabi wraps lines
    assert "GP017" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_tune_thresholds_errors_are_coded(nested, tmp_path):
    from spacy_globalpointer.ner.tuning import _only_globalpointer, tune_thresholds

    with pytest.raises(ValueError, match=r"\[GP016\].*'tokens'"):
        tune_thresholds(nested / "model", nested / "dev.spacy", tmp_path / "x", target="tokens")
    with pytest.raises(ValueError, match=r"\[GP017\] Component 'globalpointer_ner'"):
        tune_thresholds(nested / "model", nested / "dev.spacy", tmp_path / "x", target="ents")
    nlp = spacy.blank("zh")
    for name in ("gp_a", "gp_b"):
        nlp.add_pipe(PIPE, name=name)
    with pytest.raises(ValueError, match=r"\[GP018\].*2 .*\['gp_a', 'gp_b'\].*--pipe"):
        _only_globalpointer(nlp)
    with pytest.raises(ValueError, match=r"\[GP018\].*0 "):
        _only_globalpointer(spacy.blank("zh"))


def _threshold_sweep_script():
    """The benchmark's `project/scripts/threshold_sweep.py`, imported (project/
    is on sys.path, see conftest.py)."""
    from scripts import threshold_sweep

    return threshold_sweep


@pytest.mark.parametrize("which", ["nested", "flat"])
def test_threshold_sweep_equals_running_at_each_threshold(which, request):
    """The benchmark's sweep predicts once and writes the output once per
    threshold; that must score what running the pipeline at that threshold
    scores."""
    sweep = _threshold_sweep_script()
    path = request.getfixturevalue(which)
    nlp = spacy.load(path / "model")
    gold = list(DocBin().from_disk(path / "dev.spacy").get_docs(nlp.vocab))
    ents = which == "flat"
    for doc in gold:  # the sweep reads the gold from doc.spans["sc"]
        doc.spans[SPANS_KEY] = list(doc.ents) if ents else list(doc.spans[SPANS_KEY])
    grid = (0.0, 0.05, 0.5, 0.999, 1.0)
    swept = sweep.sweep_split(nlp, PIPE, gold, ents, grid)
    gp = nlp.get_pipe(PIPE)
    assert gp.cfg["threshold"] == 0.2  # restored afterwards
    fs = set()
    for t in grid:
        gp.cfg["threshold"] = t
        tp = fp = fn = 0
        for ref, doc in zip(gold, nlp.pipe([d.text for d in gold])):
            got = {(s.start_char, s.end_char, s.label_) for s in (doc.ents if ents else doc.spans[SPANS_KEY])}
            want = {(s.start_char, s.end_char, s.label_) for s in ref.spans[SPANS_KEY]}
            tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        assert swept[t]["p"] == pytest.approx(p) and swept[t]["r"] == pytest.approx(r), t
        fs.add(round(swept[t]["f"], 6))
    assert len(fs) > 1  # the thresholds do change the output


def test_project_exact_span_scorer():
    """`scripts.common.score_spans`, the one exact-span scorer of the
    project's scripts (spaCy's PRFScore): counts over all docs, per type too."""
    from scripts.common import score_spans

    pairs = [
        ({(0, 2, "PER"), (3, 5, "LOC")}, {(0, 2, "PER"), (3, 6, "LOC")}),
        (set(), {(1, 2, "ORG")}),
        ({(0, 1, "LOC")}, set()),
    ]
    scores = score_spans(pairs, per_type=True)
    # tp 1 (PER), fp 2 (LOC twice), fn 2 (LOC, ORG)
    assert scores["p"] == pytest.approx(1 / 3) and scores["r"] == pytest.approx(1 / 3)
    assert scores["f"] == pytest.approx(1 / 3) and scores["support"] == 3
    assert list(scores["per_type"]) == ["LOC", "ORG", "PER"]
    assert scores["per_type"]["PER"] == {"p": 1.0, "r": 1.0, "f": pytest.approx(1.0), "support": 1}
    assert scores["per_type"]["LOC"] == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 1}
    assert score_spans([]) == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 0}


def test_project_markdown_tables():
    """`scripts.common.md_table`: wasabi's table with the committed tables'
    compact divider row."""
    from scripts.common import md_table

    rows = [("a", 1, ""), ("b", 2, "x")]
    assert md_table(rows, ["name", "n", "note"], "lrl") == (
        "| name | n | note |\n|---|---:|---|\n| a | 1 |  |\n| b | 2 | x |")
    assert md_table(rows, ["name", "n", "note"], "lrl", tight_empty=True).split("\n")[2] == "| a | 1 | |"
    assert md_table([], ["name"], "c") == "| name |\n|:---:|"
