"""The `globalpointer_ner` pipe: training, output, serialization and errors."""
import numpy
import pytest
import spacy
from spacy.lang.zh import Chinese
from spacy.language import Language
from spacy.util import make_tempdir
from thinc.api import fix_random_seed

from spacy_globalpointer import GlobalPointerNER
from spacy_globalpointer.ner.pipe import DEFAULT_GP_MODEL

from .conftest import FLAT_DATA, NESTED_DATA, SPANS_KEY, gold_of, make_examples, spans_of

EFFICIENT = dict(DEFAULT_GP_MODEL, **{"@architectures": "spacy-globalpointer.EfficientGlobalPointer.v1"})


def train(nlp, examples, n_iter=60):
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(n_iter):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return losses


def predicted_spans(nlp, data):
    return {doc.text: sorted(spans_of(doc)) for doc in nlp.pipe(t for t, _ in data)}


def predicted_scores(nlp, data):
    return [numpy.asarray(doc.spans[SPANS_KEY].attrs["scores"]) for doc in nlp.pipe(t for t, _ in data)]


@pytest.mark.parametrize("model", [None, EFFICIENT], ids=["globalpointer", "efficient"])
@pytest.mark.parametrize("n_labels", [1, 2, 10, 30])
def test_untrained_pipe_predicts_nothing(model, n_labels):
    """Like spaCy's untrained `ner` (everything O): no span and no entity
    from an initialized, untrained pipe, whatever the number of labels."""
    texts = [
        "John is watching the news about Croatia's elections",
        "Apple is looking at buying U.K. startup for $1 billion in the spring of 2026 , say reports",
    ]
    for seed in range(3):
        fix_random_seed(seed)
        nlp = spacy.blank("en")
        config = {"annotate_ents": True, **({} if model is None else {"model": model})}
        pipe = nlp.add_pipe("globalpointer_ner", config=config)
        for i in range(n_labels):
            pipe.add_label(f"L{i}")
        nlp.initialize()
        for doc in nlp.pipe(texts):
            assert list(doc.spans[SPANS_KEY]) == []
            assert doc.ents == ()
            assert {token.ent_iob_ for token in doc} == {"O"}


@pytest.mark.parametrize("model", [None, EFFICIENT], ids=["globalpointer", "efficient"])
def test_overfitting_nested_IO(model):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    config = {} if model is None else {"model": model}
    nlp.add_pipe("globalpointer_ner", config=config)
    examples = make_examples(nlp, NESTED_DATA)
    losses = train(nlp, examples)
    assert losses["globalpointer_ner"] < 0.01
    expected = gold_of(NESTED_DATA)
    assert predicted_spans(nlp, NESTED_DATA) == expected
    scores = predicted_scores(nlp, NESTED_DATA)
    assert all(((s > 0.5) & (s <= 1.0)).all() for s in scores)
    # The nested pairs really are nested: one span inside another.
    doc = nlp("北京大学在北京")
    assert [(s.start, s.end) for s in doc.spans[SPANS_KEY]] == [(0, 2), (0, 4), (5, 7)]

    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
    assert predicted_spans(nlp2, NESTED_DATA) == expected
    for a, b in zip(scores, predicted_scores(nlp2, NESTED_DATA)):
        numpy.testing.assert_array_equal(a, b)

    nlp3 = Chinese.from_config(nlp.config)
    nlp3.from_bytes(nlp.to_bytes())
    assert predicted_spans(nlp3, NESTED_DATA) == expected

    scores = nlp.evaluate(examples)
    assert scores["spans_sc_f"] == 1.0
    assert scores["spans_sc_per_type"]["ORG"]["f"] == 1.0


def test_overfitting_ents_IO():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    examples = make_examples(nlp, FLAT_DATA, ents=True)
    train(nlp, examples)
    expected = gold_of(FLAT_DATA)
    for doc in nlp.pipe(t for t, _ in FLAT_DATA):
        ents = sorted((e.start_char, e.end_char, e.label_) for e in doc.ents)
        assert ents == expected[doc.text]
        assert sorted(spans_of(doc)) == expected[doc.text]
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
    assert nlp2.get_pipe("globalpointer_ner").cfg["annotate_ents"] is True
    doc = nlp2("王五在广州工作")
    assert [(e.text, e.label_) for e in doc.ents] == [("王五", "PER"), ("广州", "LOC")]
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0
    assert scores["ents_per_type"]["PER"]["f"] == 1.0


def test_ents_mode_resolves_overlaps_by_score():
    """Nested gold, flat output: doc.ents gets the highest-scoring span of an
    overlapping pair, doc.spans keeps both."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"annotate_ents": False})
    examples = make_examples(nlp, NESTED_DATA)
    train(nlp, examples)
    gp.cfg["annotate_ents"] = True
    doc = nlp("北京大学在北京")
    group = doc.spans[SPANS_KEY]
    assert len(group) == 3
    scores = dict(zip([(s.start, s.end) for s in group], group.attrs["scores"]))
    inner_wins = scores[(0, 2)] > scores[(0, 4)]
    expected_first = (0, 2) if inner_wins else (0, 4)
    assert [(e.start, e.end) for e in doc.ents] == [expected_first, (5, 7)]


def test_threshold_controls_output():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    train(nlp, make_examples(nlp, NESTED_DATA), n_iter=30)
    gp.cfg["threshold"] = 0.999999
    few = sum(len(d.spans[SPANS_KEY]) for d in nlp.pipe(t for t, _ in NESTED_DATA))
    gp.cfg["threshold"] = 1e-6
    many = sum(len(d.spans[SPANS_KEY]) for d in nlp.pipe(t for t, _ in NESTED_DATA))
    assert many > few


@Language.factory("gp_test_blocker")
class Blocker:
    """spaCy's `test_block_ner` blocker: tokens start..end cannot be in an entity."""

    def __init__(self, nlp, name, start: int, end: int):
        self.start, self.end = start, end

    def __call__(self, doc):
        doc.set_ents([], blocked=[doc[self.start : self.end]], default="unmodified")
        return doc


BLOCK_TEXT = "This is Antti L Korhonen speaking in Finland"
BLOCK_DATA = [
    (BLOCK_TEXT, [(8, 24, "PERSON"), (37, 44, "GPE")]),
    ("Antti L Korhonen lives in Finland", [(0, 16, "PERSON"), (26, 33, "GPE")]),
    ("I met Antti L Korhonen", [(6, 22, "PERSON")]),
    ("Finland is cold", [(0, 7, "GPE")]),
]


@pytest.mark.parametrize("overwrite_ents", [False, True])
def test_block_ner(overwrite_ents):
    """spaCy's `test_block_ner`, with a trained model: tokens blocked before
    the pipe stay blocked (IOB "B" without a type, as spaCy's `ner` leaves
    them) and the prediction goes around them; the rest is tagged as usual."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True, "overwrite_ents": overwrite_ents})
    train(nlp, make_examples(nlp, BLOCK_DATA, ents=True))
    # Trained: without a blocker the person is found.
    assert [(e.text, e.label_) for e in nlp(BLOCK_TEXT).ents] == [
        ("Antti L Korhonen", "PERSON"), ("Finland", "GPE"),
    ]
    nlp.add_pipe("gp_test_blocker", config={"start": 2, "end": 5}, first=True)
    doc = nlp(BLOCK_TEXT)
    assert [token.ent_iob_ for token in doc] == "O O B B B O O B".split()
    assert [token.ent_type_ for token in doc] == ["", "", "", "", "", "", "", "GPE"]
    assert [(e.text, e.label_) for e in doc.ents] == [("Finland", "GPE")]


def test_other_annotations_survive():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"spans_key": "gp"})
    examples = make_examples(nlp, NESTED_DATA, key="gp")
    train(nlp, examples, n_iter=20)
    doc = nlp.make_doc("北京大学在北京")
    doc.spans["other"] = [doc[0:1]]
    doc.ents = [doc.char_span(5, 7, label="GPE")]
    doc.user_data["note"] = 1
    doc = nlp.get_pipe("globalpointer_ner")(doc)
    assert [(s.start, s.end) for s in doc.spans["other"]] == [(0, 1)]
    assert [(e.text, e.label_) for e in doc.ents] == [("北京", "GPE")]
    assert doc.user_data["note"] == 1
    assert "gp" in doc.spans


def test_empty_docs():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    examples = make_examples(nlp, FLAT_DATA, ents=True)
    train(nlp, examples, n_iter=5)
    docs = list(nlp.pipe(["", "", ""]))
    assert all(len(d.spans[SPANS_KEY]) == 0 and len(d.ents) == 0 for d in docs)
    assert len(nlp("").spans[SPANS_KEY]) == 0
    # Updating on only empty docs is a no-op, not a crash.
    empty = [eg for eg in examples if not eg.reference.text]
    losses = {}
    nlp.update(empty, losses=losses)
    assert losses["globalpointer_ner"] == 0.0
    # Mixed with non-empty ones in one batch.
    docs = list(nlp.pipe(["", "深圳很热", ""], batch_size=3))
    assert [len(d) for d in docs] == [0, 4, 0]


def test_pipe_multiprocessing():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    train(nlp, make_examples(nlp, NESTED_DATA))
    texts = [t for t, _ in NESTED_DATA] * 3
    single = [(spans_of(d), list(d.spans[SPANS_KEY].attrs["scores"])) for d in nlp.pipe(texts)]
    multi = [(spans_of(d), list(d.spans[SPANS_KEY].attrs["scores"])) for d in nlp.pipe(texts, n_process=2, batch_size=2)]
    assert single == multi
    assert any(spans for spans, _ in single)


# ---------------------------------------------------------------- labels and errors


def test_labels_from_data_and_config():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))
    assert set(gp.labels) == {"ORG", "LOC", "PER"}
    assert gp.cfg["learned_max_length"] == 16  # 2 x 6 tokens, at least 16

    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    nlp.config["initialize"]["components"]["globalpointer_ner"] = {"labels": ["A", "B"]}
    nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))
    # Explicit labels come first, data labels unknown to them are not added.
    assert gp.labels == ("A", "B")


def test_no_labels_error():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    with pytest.raises(ValueError, match="E143"):
        nlp.initialize(lambda: make_examples(nlp, [("你好", [])]))


def test_add_label_after_training_error():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))
    with pytest.raises(ValueError, match="E922"):
        gp.add_label("NEW")
    assert gp.add_label("ORG") == 0


def test_non_string_label_error():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    with pytest.raises(ValueError, match="E187"):
        gp.add_label(3)


def test_predict_before_initialize_error():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    with pytest.raises(ValueError, match=r"GP004.*globalpointer_ner.*nlp.initialize"):
        nlp("北京")


@pytest.mark.parametrize(
    "setting,value,code",
    [
        ("threshold", 1.5, "GP001"),
        ("threshold", -0.1, "GP001"),
        ("ents_threshold", 2, "GP001"),
        ("thresholds", {"PER": 1.2}, "GP001"),
        ("max_positive", 0, "GP010"),
        ("max_length", 0, "GP002"),
        ("spans_key", "", "GP003"),
    ],
)
def test_invalid_settings(setting, value, code):
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match=code) as err:
        nlp.add_pipe("globalpointer_ner", name="my_gp", config={setting: value})
    assert "my_gp" in str(err.value)


@pytest.mark.parametrize(
    "config",
    [{"threshold": "high"}, {"max_length": "long"}, {"annotate_ents": "maybe"}, {"unknown_setting": 1}],
)
def test_config_validation(config):
    from thinc.api import ConfigValidationError

    nlp = spacy.blank("zh")
    with pytest.raises(ConfigValidationError):
        nlp.add_pipe("globalpointer_ner", config=config)


def test_odd_head_size_error():
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match=r"GP013.*even.*use_rope = false"):
        nlp.add_pipe("globalpointer_ner", config={"model": {"head_size": 7}})


@pytest.mark.parametrize("head_size", [0, -4])
def test_non_positive_head_size_error(head_size):
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match=r"GP005.*positive whole number") as err:
        nlp.add_pipe("globalpointer_ner", config={"model": {"head_size": head_size}})
    assert "even" not in str(err.value)


def test_odd_head_size_without_rope_trains():
    """RoPE needs pairs of dimensions; without it any size is fine."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    model = dict(DEFAULT_GP_MODEL, head_size=63, use_rope=False)
    nlp.add_pipe("globalpointer_ner", config={"model": model})
    losses = train(nlp, make_examples(nlp, NESTED_DATA), n_iter=3)
    assert numpy.isfinite(losses["globalpointer_ner"])


def test_misaligned_gold_is_reported():
    from spacy.tokens import Doc, Span
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("globalpointer_ner")
    # The gold tokenization splits "Berlinstadt"; the predicted one does not,
    # so the gold span "Berlin" has no counterpart among the predicted tokens.
    words, spaces = ["Visit", "Berlin", "stadt", "today"], [True, False, True, False]
    ref = Doc(nlp.vocab, words=words, spaces=spaces)
    ref.spans[SPANS_KEY] = [Span(ref, 1, 2, label="LOC"), Span(ref, 0, 1, label="ACT")]
    eg = Example(nlp.make_doc(ref.text), ref)
    with pytest.warns(UserWarning, match=r"GPW001.*1 gold span.*'Berlin' \(LOC\).*Visit Berlinstadt"):
        nlp.initialize(lambda: [eg])


def test_max_length_setting_wins_and_is_saved():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner", config={"max_length": 3})
    with pytest.warns(UserWarning, match="GPW002"):
        nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))
    assert gp.max_length == 3
    doc = nlp("我爱上海交通大学")
    assert all(len(span) <= 3 for span in doc.spans[SPANS_KEY])
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
    gp2 = nlp2.get_pipe("globalpointer_ner")
    assert gp2.max_length == 3
    assert gp2.model.get_ref("pointer").attrs["max_length"] == 3


def test_is_a_trainable_pipe():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    assert isinstance(gp, GlobalPointerNER)
    assert gp.is_trainable
    assert nlp.get_pipe_meta("globalpointer_ner").assigns[0] == "doc.spans"


# ---------------------------------------------------------------- gold in the wrong place


def _examples_with_gold_in(nlp, data, place):
    """Examples whose gold is only in `doc.ents` or only in doc.spans["sc"]."""
    examples = make_examples(nlp, data, ents=place == "ents")
    if place == "ents":
        for eg in examples:
            del eg.reference.spans[SPANS_KEY]
    return examples


def test_gold_only_in_ents_error():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    examples = _examples_with_gold_in(nlp, FLAT_DATA, "ents")
    with pytest.raises(ValueError, match=r'GP012.*globalpointer_ner.*doc.ents holds 5 span.*annotate_ents = true'):
        nlp.initialize(lambda: examples)


def test_nested_gold_with_annotate_ents_error():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    examples = _examples_with_gold_in(nlp, NESTED_DATA, "spans")
    with pytest.raises(ValueError, match=r"GP012.*learns from doc.ents.*For nested gold, set `annotate_ents = false`"):
        nlp.initialize(lambda: examples)


def test_gold_in_other_place_with_labels_warns():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    nlp.config["initialize"]["components"]["globalpointer_ner"] = {"labels": ["ORG", "LOC", "PER"]}
    examples = _examples_with_gold_in(nlp, NESTED_DATA, "spans")
    with pytest.warns(UserWarning, match=r"GPW003.*has 0 gold span\(s\) there and 8 in doc.spans\[\"sc\"\].*no positives"):
        nlp.initialize(lambda: examples)


def test_labels_the_pipe_lacks_warn_at_initialize():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.config["initialize"]["components"]["globalpointer_ner"] = {"labels": ["LOC"]}
    with pytest.warns(UserWarning, match=r"GPW004.*3 gold span\(s\).*'ORG' \(2\), 'PER' \(1\).*\['LOC'\]"):
        nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))


def test_new_label_when_resuming_warns_once():
    import warnings

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    optimizer = nlp.initialize(lambda: make_examples(nlp, FLAT_DATA, ents=True))
    new = make_examples(nlp, [("苹果公司在加州", [(0, 4, "ORG"), (5, 7, "LOC")])], ents=True)
    with pytest.warns(UserWarning, match=r"GPW004.*'ORG' \(1\)"):
        nlp.update(new, sgd=optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.update(new, sgd=optimizer)  # said once, not every batch


def test_grouped_update_equals_one_call(monkeypatch):
    """Docs of very different lengths are scored in separate head calls during
    training; the loss and every gradient are those of a single call."""
    import spacy_globalpointer.base as gp_base

    fix_random_seed(0)
    long_text = "北京大学在北京" * 30
    # A 20-token gold span: the learned max_length (40) makes the long doc's
    # key windows wide, so padding the short docs to them would cost more
    # than another call.
    data = NESTED_DATA[:3] + [(long_text, [(0, 20, "ORG"), (200, 202, "LOC")])]
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    examples = make_examples(nlp, data)
    nlp.initialize(lambda: examples)
    twin = spacy.blank("zh")
    twin.add_pipe("globalpointer_ner")
    twin.initialize(lambda: make_examples(twin, data))
    twin.from_bytes(nlp.to_bytes())

    calls = []
    real = gp_base.group_by_geometry
    monkeypatch.setattr(gp_base, "group_by_geometry", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    grouped = nlp.update(examples, drop=0.0)
    assert len(calls[-1]) > 1  # the long doc was scored apart from the short ones
    monkeypatch.setattr(gp_base, "HEAD_CALL_OVERHEAD", 10**12)
    single = twin.update(make_examples(twin, data), drop=0.0)
    assert len(calls[-1]) == 1
    assert grouped["globalpointer_ner"] == pytest.approx(single["globalpointer_ner"], rel=1e-5)
    head_a = nlp.get_pipe("globalpointer_ner").model.get_ref("pointer")
    head_b = twin.get_pipe("globalpointer_ner").model.get_ref("pointer")
    for name in head_a.param_names:
        numpy.testing.assert_allclose(head_a.get_grad(name), head_b.get_grad(name), rtol=1e-4, atol=1e-6)


def test_boundary_smoothing_trains_and_is_checked():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"boundary_smoothing": 0.1})
    losses = train(nlp, make_examples(nlp, NESTED_DATA), n_iter=80)
    assert numpy.isfinite(losses["globalpointer_ner"])
    assert predicted_spans(nlp, NESTED_DATA) == gold_of(NESTED_DATA)
    for value in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"GP014.*boundary_smoothing"):
            spacy.blank("zh").add_pipe("globalpointer_ner", config={"boundary_smoothing": value})


# ---------------------------------------------------------------- partial annotation


def _ents_example(nlp, text, ents, missing=(), incorrect=()):
    """An example whose reference has `ents` (char offsets) in doc.ents, the
    tokens of the `missing` char ranges without entity annotation (IOB
    missing), and `incorrect` spans in doc.spans["incorrect"]."""
    from spacy.training import Example

    ref = nlp.make_doc(text)
    spans = [ref.char_span(s, e, label=label) for s, e, label in ents]
    holes = [ref.char_span(s, e) for s, e in missing]
    ref.set_ents(spans, missing=holes, default="outside")
    ref.spans["incorrect"] = [ref.char_span(s, e, label=label) for s, e, label in incorrect]
    return Example(nlp.make_doc(text), ref)


def _span_gradient(pipe, examples):
    """The loss and the gradient of the scores, as {(doc, start, end): max |grad| over labels}."""
    docs = [eg.predicted for eg in examples]
    tokvecs = pipe.model.get_ref("tok2vec").predict(docs)
    scores = pipe._head.predict(tokvecs)
    loss, d_scores = pipe.get_loss(examples, scores)
    grad = numpy.abs(d_scores.scores).max(axis=1)  # (n_blocks, C, K)
    block, row, col = numpy.nonzero(scores.mask[:, 0])
    doc, start, end = scores.layout.locate(block, row, col)
    return loss, {
        (int(d), int(s), int(e)): float(grad[b, r, c])
        for d, s, e, b, r, c in zip(doc, start, end, block, row, col)
    }


def test_missing_ent_annotation_gives_no_loss():
    """With doc.ents gold, spans touching tokens whose entity annotation is
    missing get no gradient (as in spaCy's `ner`); all other spans do. A
    doc without any entity annotation gives no loss at all."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    full = make_examples(nlp, FLAT_DATA, ents=True)
    nlp.initialize(lambda: full)
    text = "李四住在南京"  # 李四 PER; 南京 left unannotated (tokens 4-5)
    partial = _ents_example(nlp, text, [(0, 2, "PER")], missing=[(4, 6)])
    _, grads = _span_gradient(pipe, [partial])
    for (_, start, end), g in grads.items():
        touches = end > 4
        assert (g == 0) == touches, (start, end, g)
    from spacy.training import Example

    unannotated = Example(nlp.make_doc(text), nlp.make_doc(text))  # every IOB missing
    loss, grads = _span_gradient(pipe, [unannotated])
    assert loss == 0 and not any(grads.values())


def test_incorrect_spans_are_negatives_inside_missing_regions():
    """`incorrect_spans_key`: a span known to be wrong is learned as a
    negative for its label even where the annotation is otherwise missing;
    the other labels of that span stay unknown."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe(
        "globalpointer_ner", config={"annotate_ents": True, "incorrect_spans_key": "incorrect"}
    )
    nlp.initialize(lambda: make_examples(nlp, FLAT_DATA, ents=True))
    eg = _ents_example(nlp, "李四住在南京", [], missing=[(0, 6)], incorrect=[(4, 6, "PER")])
    docs = [eg.predicted]
    scores = pipe._head.predict(pipe.model.get_ref("tok2vec").predict(docs))
    _, d_scores = pipe.get_loss([eg], scores)
    block, row, col, ok = scores.layout.position(numpy.array([0]), numpy.array([4]), numpy.array([6]))
    per, loc = pipe.labels.index("PER"), pipe.labels.index("LOC")
    assert d_scores.scores[block[0], per, row[0], col[0]] > 0  # pushed down
    assert d_scores.scores[block[0], loc, row[0], col[0]] == 0
    assert numpy.count_nonzero(d_scores.scores) == 1


@pytest.mark.parametrize("mode", ["ents", "spans"])
def test_partial_annotation_keeps_unannotated_entities_learnable(mode):
    """The same entity is annotated in some docs and left out of others: left
    out and unmarked, those docs teach the pipe that it is no entity; marked
    missing (missing IOB, or `missing_spans_key` for span-group gold) they
    teach nothing about it, and the pipe scores it higher."""
    texts = ["李四住在南京", "南京很热", "王五在南京工作"]

    def train_and_score(mark_missing):
        fix_random_seed(0)
        nlp = spacy.blank("zh")
        config = {"annotate_ents": mode == "ents"}
        if mode == "spans":
            config["missing_spans_key"] = "missing"
        pipe = nlp.add_pipe("globalpointer_ner", config=config)
        from spacy.training import Example

        examples = []
        for i, text in enumerate(texts * 2):
            ref = nlp.make_doc(text)
            start = text.index("南京")
            city = ref.char_span(start, start + 2, label="LOC")
            people = [ref.char_span(0, 2, label="PER")] if text[0] in "李王" else []
            annotated = i < len(texts)  # the second copy leaves 南京 out
            gold = sorted(people + ([city] if annotated else []), key=lambda sp: sp.start)
            if mode == "ents":
                holes = [] if annotated or not mark_missing else [ref[city.start : city.end]]
                ref.set_ents(gold, missing=holes, default="outside")
            else:
                ref.spans[SPANS_KEY] = gold
                if not annotated and mark_missing:
                    ref.spans["missing"] = [ref[city.start : city.end]]
            examples.append(Example(nlp.make_doc(text), ref))
        train(nlp, examples, n_iter=40)
        pipe.cfg["threshold"] = 0.0
        doc = nlp("南京很热")
        scores = dict(zip([(s.start, s.end, s.label_) for s in doc.spans[SPANS_KEY]], doc.spans[SPANS_KEY].attrs["scores"]))
        return float(scores[(0, 2, "LOC")])

    marked, unmarked = train_and_score(True), train_and_score(False)
    assert marked > 0.9
    assert unmarked < 0.7
    assert marked > unmarked


@pytest.mark.parametrize("setting", ["missing_spans_key", "incorrect_spans_key"])
@pytest.mark.parametrize("value", ["", "sc"])
def test_partial_annotation_keys_are_checked(setting, value):
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match="GP015"):
        nlp.add_pipe("globalpointer_ner", config={setting: value})


def test_partial_annotation_keys_are_saved():
    nlp = spacy.blank("zh")
    nlp.add_pipe(
        "globalpointer_ner", config={"missing_spans_key": "todo", "incorrect_spans_key": "rejected"}
    )
    nlp.initialize(lambda: make_examples(nlp, NESTED_DATA))
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        cfg = spacy.load(tmp).get_pipe("globalpointer_ner").cfg
    assert (cfg["missing_spans_key"], cfg["incorrect_spans_key"]) == ("todo", "rejected")
