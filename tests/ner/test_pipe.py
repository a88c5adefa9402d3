"""The `globalpointer_ner` pipe: training, output, serialization and errors;
robustness: hostile input, long docs and windowed prediction, damaged model
directories, and data that must survive the pipe. (The property-based checks
of the layout, the decoder, the loss and the head are in models/test_layout,
ner/test_decoding, ner/test_loss and models/test_globalpointer; bad gold in
ner/test_gold.)"""
import os

import numpy
import pytest
import spacy
import srsly
from spacy.lang.zh import Chinese
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.training import Example
from spacy.util import make_tempdir
from thinc.api import fix_random_seed

import spacy_globalpointer.base as gp_base
from spacy_globalpointer import GlobalPointerNER
from spacy_globalpointer.ner.decoding import decode, predict_windowed
from spacy_globalpointer.ner.pipe import DEFAULT_GP_MODEL
from spacy_globalpointer.spans import Candidates

from ..conftest import FLAT_DATA, NESTED_DATA, SPANS_KEY, gold_of, make_examples, spans_of

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


@pytest.mark.parametrize("scale", [0, -1.0])
def test_non_positive_learn_rate_scale_error(scale):
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match=r"GP030.*learn_rate_scale.*positive number"):
        nlp.add_pipe("globalpointer_ner", config={"model": {"learn_rate_scale": scale}})


def test_odd_head_size_without_rope_trains():
    """RoPE needs pairs of dimensions; without it any size is fine."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    model = dict(DEFAULT_GP_MODEL, head_size=63, use_rope=False)
    nlp.add_pipe("globalpointer_ner", config={"model": model})
    losses = train(nlp, make_examples(nlp, NESTED_DATA), n_iter=3)
    assert numpy.isfinite(losses["globalpointer_ner"])


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
    # Every gold span is learned. The only extras allowed are what smoothing gives
    # target mass to: a neighbour (one boundary one token off) of a gold span of the
    # same type, e.g. (4, 7) between the gold (4, 6) and (4, 8), a neighbour of both,
    # which crosses the threshold or not with the last digits of the arithmetic.
    def is_neighbour(span, gold_spans):
        start, end, label = span
        return any(label == gl and abs(start - gs) + abs(end - ge) == 1 for gs, ge, gl in gold_spans)

    predicted = predicted_spans(nlp, NESTED_DATA)
    for text, want in gold_of(NESTED_DATA).items():
        got = set(predicted[text])
        assert set(want) <= got, text
        extra = got - set(want)
        assert all(is_neighbour(span, want) for span in extra), (text, extra)
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


# ---------------------------------------------------------------------------
# Robustness: a pipe trained once for the module

PIPE = "globalpointer_ner"

TRAIN = [
    ("北京是中国的首都", [(0, 2, "LOC"), (3, 5, "LOC")]),
    ("张三在上海工作", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("李四加入了阿里巴巴公司", [(0, 2, "PER"), (5, 9, "ORG")]),
    ("王五去了南京大学读书", [(0, 2, "PER"), (4, 8, "ORG"), (4, 6, "LOC")]),
]


def make_train_examples(nlp):
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
    examples = make_train_examples(nlp)
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
