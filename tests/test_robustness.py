"""Robustness of `globalpointer_ner`, pipe-level: hostile input, long docs
and windowed prediction, damaged model directories, and data that must
survive the pipe. (The property-based checks of the layout, the decoder, the
loss and the head are in test_layout, test_decoding, test_loss and
test_model; bad gold in test_gold.)

Everything here runs on CPU in well under a minute.
"""
import os

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc, Span, Token
from spacy.training import Example
from spacy.util import fix_random_seed

import spacy_globalpointer.base as gp_base
from spacy_globalpointer.ner.decoding import decode, predict_windowed
from spacy_globalpointer.spans import Candidates

PIPE = "globalpointer_ner"

# ---------------------------------------------------------------------------
# Pipe-level fixtures

TRAIN = [
    ("北京是中国的首都", [(0, 2, "LOC"), (3, 5, "LOC")]),
    ("张三在上海工作", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("李四加入了阿里巴巴公司", [(0, 2, "PER"), (5, 9, "ORG")]),
    ("王五去了南京大学读书", [(0, 2, "PER"), (4, 8, "ORG"), (4, 6, "LOC")]),
]


def make_examples(nlp):
    examples = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [Span(ref, s, e, label=lab) for s, e, lab in spans]
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def train_pipeline(steps=30, **config):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe(PIPE, config=config)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def trained():
    return train_pipeline()


def long_text(n_chars):
    base = "".join(text for text, _ in TRAIN)
    return (base * (n_chars // len(base) + 1))[:n_chars]


def predictions(doc, key="sc"):
    group = doc.spans[key]
    scores = numpy.asarray(group.attrs["scores"])
    assert len(scores) == len(group)
    return {(s.start, s.end, s.label_): float(p) for s, p in zip(group, scores)}


def assert_same_predictions(a, b, threshold, atol=1e-5):
    """Same spans and scores, up to float noise; a span may only be missing
    on one side if its probability sits at the threshold."""
    for key in a.keys() ^ b.keys():
        p = a.get(key, b.get(key))
        assert abs(p - threshold) < atol, (key, p)
    for key in a.keys() & b.keys():
        assert a[key] == pytest.approx(b[key], abs=atol), key


def test_trained_fixture_predicts_its_training_spans(trained):
    doc = trained(TRAIN[0][0])
    assert {(s.start, s.end, s.label_) for s in doc.spans["sc"]} >= {(0, 2, "LOC")}


HOSTILE_TEXTS = [
    "",
    " ",
    "   \n\t  ",
    "北",
    "😀",
    "👨‍👩‍👧‍👦🇨🇳",
    "\u200b\u200d",
    "e\u0301\u0301",
    "Hello世界123 🎉 مرحبا שלום Привет\x00北京",
    "北京" * 3 + "\n\n" + " " * 5 + "上海",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text(trained, text):
    doc = trained(text)
    found = predictions(doc)
    for (start, end, label), p in found.items():
        assert 0 <= start < end <= len(doc)
        assert label in trained.get_pipe(PIPE).labels
        assert trained.get_pipe(PIPE).cfg["threshold"] < p <= 1.0


def test_pipe_batch_of_empty_and_long_docs_equals_one_by_one(trained):
    texts = ["", long_text(5000), " ", "北", "", long_text(1300), "😀", TRAIN[1][0]]
    singles = [predictions(trained(t)) for t in texts]
    for batch_size in (3, 1000):
        docs = list(trained.pipe(texts, batch_size=batch_size))
        assert [d.text for d in docs] == texts
        for doc, single in zip(docs, singles):
            assert_same_predictions(predictions(doc), single, trained.get_pipe(PIPE).cfg["threshold"])
    assert len(singles[1]) > 0  # the long doc does get entities


def test_predict_all_empty_docs(trained):
    docs = list(trained.pipe(["", "", ""]))
    assert all(len(d.spans["sc"]) == 0 for d in docs)


def _as_dict(c: Candidates):
    out = {
        (int(d), int(s), int(e), int(lab)): float(p)
        for d, s, e, lab, p in zip(c.doc, c.start, c.end, c.label, c.score)
    }
    assert len(out) == len(c), "a span was predicted twice"
    return out


def test_span_scores_belong_to_their_spans(trained):
    pipe = trained.get_pipe(PIPE)
    docs = [trained.make_doc(t) for t in (long_text(3000), "", TRAIN[2][0])]
    cands = pipe.predict(docs)
    assert len(cands) > 10
    pipe.set_annotations(docs, cands)
    labels = pipe.labels
    for i, doc in enumerate(docs):
        want = {(s, e, labels[lab]): p for (d, s, e, lab), p in _as_dict(cands).items() if d == i}
        assert predictions(doc) == want
        starts = [(s.start, s.end, s.label_) for s in doc.spans["sc"]]
        assert starts == sorted(starts, key=lambda x: (x[0], x[1], labels.index(x[2])))


def test_windowed_prediction_equals_whole_doc_scoring(trained, monkeypatch):
    pipe = trained.get_pipe(PIPE)
    docs = [trained.make_doc(t) for t in (long_text(5000), long_text(700), "")]
    tokvecs = pipe.model.get_ref("tok2vec").predict(docs)
    head = pipe._head
    threshold = 0.05
    # Without windows: the head on the whole docs in one call.
    whole = _as_dict(decode(head.ops, head.predict(tokvecs), threshold))
    assert len(whole) > 100
    max_length = pipe.max_length
    # (window, max entries per call, call overhead): one group per window,
    # everything in as few calls as the budget allows, small windows...
    for window, max_entries, overhead in [(1024, 2**21, 2048), (37, 2000, 0), (max_length, 1, 0), (7, 500, 10**9)]:
        got = _as_dict(predict_windowed(head, tokvecs, threshold, max_length, window, max_entries, overhead))
        assert_same_predictions(got, whole, threshold=threshold)
    # Through the pipe, with small windows and calls forced.
    monkeypatch.setattr(gp_base, "PREDICT_WINDOW", 37)
    monkeypatch.setattr(gp_base, "PREDICT_BATCH_SCORES", 5000)
    got = _as_dict(pipe.predict(docs))
    at_default = {k: v for k, v in whole.items() if v > pipe.cfg["threshold"]}
    assert_same_predictions(got, at_default, pipe.cfg["threshold"])


def test_prediction_calls_stay_within_the_score_budget(trained, monkeypatch):
    import spacy_globalpointer.ner.decoding as decoding

    from spacy_globalpointer.models.layout import layout_cost

    pipe = trained.get_pipe(PIPE)
    entries, n_tokens = [], []
    real_decode = decoding.decode

    def spy(ops, span_scores, threshold):
        entries.append(span_scores.scores.size)
        n_tokens.append(span_scores.layout.n_tokens)
        return real_decode(ops, span_scores, threshold)

    monkeypatch.setattr(decoding, "decode", spy)
    monkeypatch.setattr(gp_base, "PREDICT_WINDOW", 50)
    n_labels = len(pipe.labels)
    one_window = layout_cost([50 + pipe.max_length - 1], pipe.max_length, pipe._head.attrs["block_size"])
    budget = 3 * one_window * n_labels  # room for a few windows per call, not all
    monkeypatch.setattr(gp_base, "PREDICT_BATCH_SCORES", budget)
    trained(trained.make_doc(long_text(3000)))
    assert len(entries) > 1
    assert max(entries) <= budget
    assert sum(n_tokens) >= 3000


# ---------------------------------------------------------------------------
# Damaged model directories


def _damage(path, how):
    pipe_dir = path / PIPE
    model = pipe_dir / "model"
    if how == "truncate_half":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif how == "truncate_empty":
        model.write_bytes(b"")
    elif how == "truncate_10":
        model.write_bytes(model.read_bytes()[:10])
    elif how == "garbage":
        model.write_bytes(os.urandom(4096))
    elif how == "delete_cfg":
        (pipe_dir / "cfg").unlink()
    elif how == "delete_model":
        model.unlink()
    elif how == "bad_cfg_json":
        (pipe_dir / "cfg").write_text("{not json", encoding="utf8")
    elif how == "cfg_other_labels":
        cfg = srsly.read_json(pipe_dir / "cfg")
        cfg["labels"] = cfg["labels"][:-1]
        srsly.write_json(pipe_dir / "cfg", cfg)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "pipeline"
    trained.to_disk(path)
    return path


@pytest.mark.parametrize(
    "how",
    ["truncate_half", "truncate_empty", "truncate_10", "garbage", "delete_cfg",
     "delete_model", "bad_cfg_json", "cfg_other_labels"],
)
def test_damaged_model_directory_raises_gp007(saved, tmp_path, how):
    import shutil

    path = tmp_path / "pipeline"
    shutil.copytree(saved, path)
    _damage(path, how)
    with pytest.raises(ValueError) as excinfo:
        spacy.load(path)
    assert excinfo.type is ValueError
    assert "[GP007]" in str(excinfo.value)
    assert str(path / PIPE) in str(excinfo.value)


@pytest.mark.parametrize("cut", [0, 1, 100, 0.5])
def test_damaged_pipe_bytes_raise_gp007(trained, cut):
    data = trained.get_pipe(PIPE).to_bytes()
    data = data[: int(len(data) * cut)] if isinstance(cut, float) else data[:cut]
    fresh = spacy.blank("zh").add_pipe(PIPE)
    with pytest.raises(ValueError, match=r"\[GP007\].*<bytes>"):
        fresh.from_bytes(data)


# ---------------------------------------------------------------------------
# No lost data


@pytest.fixture
def extensions():
    names = [(Doc, "gp_test_doc"), (Token, "gp_test_token"), (Span, "gp_test_span")]
    for cls, name in names:
        cls.set_extension(name, default=None, force=True)
    yield
    for cls, name in names:
        cls.remove_extension(name)


def test_other_annotations_survive_the_pipe(trained, extensions):
    doc = trained.make_doc(TRAIN[0][0] + TRAIN[1][0])
    other = Span(doc, 2, 5, label="OTHER")
    doc.spans["other"] = [other]
    doc.spans["other"].attrs["note"] = "keep"
    doc.user_data["my_key"] = {"a": [1, 2]}
    doc._.gp_test_doc = "doc-level"
    doc[3]._.gp_test_token = 7
    other._.gp_test_span = "span-level"
    doc.ents = [Span(doc, 0, 2, label="PRESET", kb_id="Q956")]
    doc.cats = {"NEWS": 1.0}
    doc = trained(doc)
    assert [(s.start, s.end, s.label_) for s in doc.spans["other"]] == [(2, 5, "OTHER")]
    assert doc.spans["other"].attrs["note"] == "keep"
    assert doc.user_data["my_key"] == {"a": [1, 2]}
    assert doc._.gp_test_doc == "doc-level"
    assert doc[3]._.gp_test_token == 7
    assert doc.spans["other"][0]._.gp_test_span == "span-level"
    # annotate_ents is off: doc.ents is not touched at all
    assert [(e.start, e.end, e.label_, e.kb_id_) for e in doc.ents] == [(0, 2, "PRESET", "Q956")]
    assert doc.cats == {"NEWS": 1.0}
    assert len(doc.spans["sc"]) > 0


@pytest.mark.parametrize("overwrite", [False, True])
def test_set_annotations_keeps_or_replaces_existing_ents(overwrite):
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe(PIPE, config={"annotate_ents": True, "overwrite_ents": overwrite})
    for label in ("LOC", "PER"):
        pipe.add_label(label)
    doc = nlp.make_doc("北京是中国的首都上海")
    doc.ents = [Span(doc, 0, 2, label="GPE", span_id="bj"), Span(doc, 8, 10, label="GPE")]
    cands = Candidates(
        doc=numpy.zeros(3, dtype="int64"),
        start=numpy.asarray([0, 3, 4]),
        end=numpy.asarray([3, 5, 6]),
        label=numpy.asarray([0, 0, 1]),
        score=numpy.asarray([0.9, 0.8, 0.7], dtype="float32"),
    )
    pipe.set_annotations([doc], cands)
    ents = [(e.start, e.end, e.label_) for e in doc.ents]
    if overwrite:
        # the prediction (0, 3) wins over the preset (0, 2); (8, 10) is untouched
        assert ents == [(0, 3, "LOC"), (3, 5, "LOC"), (8, 10, "GPE")]
    else:
        # preset entities are kept as they are; predictions fill the gaps
        assert ents == [(0, 2, "GPE"), (3, 5, "LOC"), (8, 10, "GPE")]
        assert doc.ents[0].id_ == "bj"
    # doc.spans gets every prediction, overlapping or not
    assert sorted(predictions(doc)) == [(0, 3, "LOC"), (3, 5, "LOC"), (4, 6, "PER")]


def test_entity_ruler_entities_are_kept_by_default(trained):
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "CITY", "pattern": "北京", "id": "beijing"}])
    pipe = nlp.add_pipe(PIPE)
    pipe.from_bytes(trained.get_pipe(PIPE).to_bytes())  # a copy: the fixture stays as it is
    pipe.cfg["annotate_ents"] = True
    doc = nlp(TRAIN[0][0] + TRAIN[1][0])
    ents = {(e.start, e.end): (e.label_, e.ent_id_) for e in doc.ents}
    assert ents[(0, 2)] == ("CITY", "beijing")
    assert any(label != "CITY" for label, _ in ents.values())  # the pipe added its own
    assert (0, 2, "LOC") in predictions(doc)  # ...and still reports its own view in doc.spans
    pipe.cfg["overwrite_ents"] = True
    doc = nlp(TRAIN[0][0] + TRAIN[1][0])
    # a prediction overlaps "北京", so the ruler's entity gives way
    assert all(e.label_ != "CITY" for e in doc.ents)


# ---------------------------------------------------------------------------
# Serialization and determinism

EVAL_TEXTS = [TRAIN[0][0], "", long_text(1500), "😀北京", TRAIN[3][0] + TRAIN[2][0]]


def _exact(doc):
    group = doc.spans["sc"]
    return [(s.start, s.end, s.label_) for s in group], numpy.asarray(group.attrs["scores"])


def _assert_identical(docs_a, docs_b):
    for a, b in zip(docs_a, docs_b):
        spans_a, scores_a = _exact(a)
        spans_b, scores_b = _exact(b)
        assert spans_a == spans_b
        numpy.testing.assert_array_equal(scores_a, scores_b)


def test_save_load_bytes_and_multiprocessing_give_identical_output(trained, saved):
    # Same batches everywhere: a doc's scores may differ in the last bit
    # between batch compositions (BLAS sums in another order), not otherwise.
    reference = list(trained.pipe(EVAL_TEXTS, batch_size=2))
    assert sum(len(d.spans["sc"]) for d in reference) > 0
    loaded = spacy.load(saved)
    _assert_identical(reference, list(loaded.pipe(EVAL_TEXTS, batch_size=2)))
    fresh = spacy.blank("zh")
    fresh.add_pipe(PIPE)
    fresh.from_bytes(trained.to_bytes())
    _assert_identical(reference, list(fresh.pipe(EVAL_TEXTS, batch_size=2)))
    _assert_identical(reference, list(loaded.pipe(EVAL_TEXTS, n_process=2, batch_size=2)))
    # One doc at a time: the same spans, scores equal up to float rounding.
    for doc, text in zip(reference, EVAL_TEXTS):
        assert_same_predictions(predictions(loaded(text)), predictions(doc), loaded.get_pipe(PIPE).cfg["threshold"])


def test_same_seed_gives_the_same_model():
    a = train_pipeline(steps=3).get_pipe(PIPE)
    b = train_pipeline(steps=3).get_pipe(PIPE)
    assert a._head.to_bytes() == b._head.to_bytes()
    assert a.model.to_bytes() == b.model.to_bytes()
    c = train_pipeline(steps=4).get_pipe(PIPE)
    assert c._head.to_bytes() != a._head.to_bytes()
