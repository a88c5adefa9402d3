"""The `globalpointer_extractor` pipe (single-answer extraction). (The question
docs it reads are checked in extractor/test_question_docs.)"""
import pickle

import numpy
import pytest
import spacy
from spacy.lang.zh import Chinese
from spacy.training import Example
from spacy.util import make_tempdir
from thinc.api import fix_random_seed

import spacy_globalpointer.base as gp_base
from spacy_globalpointer import GlobalPointerExtractor, context_bounds, make_question_doc

KEY = "answer"
LOSSES = [
    {"@losses": "spacy-globalpointer.SpanSoftmaxLoss.v1"},
    {"@losses": "spacy-globalpointer.ExpectedF1Loss.v1", "entropy_weight": 0.01,
     "crossentropy_weight": 1.0},
    {"@losses": "spacy-globalpointer.MultiLabelAnswerLoss.v1"},
]
# (question, context, answer characters in the context). The tok2vec sees a
# few tokens around each span, not the question, so every context has its
# own answer; the answers lie at different places and lengths, and one
# context word ("北京") also occurs in a question (it must not be answered).
QA_DATA = [
    ("谁发明了电话？", "贝尔发明了电话。", (0, 2)),
    ("北京在哪里？", "北京位于华北平原的北部。", (4, 8)),
    ("长城有多长？", "长城全长两万一千多公里，是世界奇迹。", (4, 11)),
    ("熊猫吃什么？", "大熊猫主要吃竹子，偶尔吃肉。", (6, 8)),
]


def make_qa_examples(nlp, data=QA_DATA, label="ANSWER"):
    return [
        Example(
            make_question_doc(nlp, q, c),
            make_question_doc(nlp, q, c, answers={label: a}),
        )
        for q, c, a in data
    ]


def answers_of(nlp, data=QA_DATA):
    docs = nlp.pipe(make_question_doc(nlp, q, c) for q, c, _ in data)
    return [[(s.text, s.label_) for s in doc.spans[KEY]] for doc in docs]


def expected_answers(data=QA_DATA):
    return [[(c[a[0] : a[1]], "ANSWER")] for _, c, a in data]


def train(nlp, examples, n_iter):
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return losses


# ---------------------------------------------------------------------------
# The pipe


@pytest.mark.parametrize("loss", LOSSES, ids=["softmax", "expected_f1_mixed", "multilabel"])
def test_overfitting_IO(loss):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_extractor", config={"loss": loss})
    examples = make_qa_examples(nlp)
    losses = train(nlp, examples, n_iter=80)
    if loss["@losses"].endswith("SpanSoftmaxLoss.v1"):
        assert losses["globalpointer_extractor"] < 0.05
    expected = expected_answers()
    assert answers_of(nlp) == expected
    probs = [float(doc.spans[KEY].attrs["scores"][0]) for doc in
             nlp.pipe(make_question_doc(nlp, q, c) for q, c, _ in QA_DATA)]
    assert all(0.5 < p <= 1.0 for p in probs)

    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
    assert answers_of(nlp2) == expected
    nlp3 = Chinese.from_config(nlp.config)
    nlp3.from_bytes(nlp.to_bytes())
    assert answers_of(nlp3) == expected
    again = [float(doc.spans[KEY].attrs["scores"][0]) for doc in
             nlp3.pipe(make_question_doc(nlp, q, c) for q, c, _ in QA_DATA)]
    numpy.testing.assert_array_equal(probs, again)
    scores = nlp.evaluate(examples)
    assert scores["answer_f1"] == 1.0 and scores["answer_em"] == 1.0
    assert scores["answer_per_type"]["ANSWER"]["n"] == len(QA_DATA)
    # Pickling (what nlp.pipe(n_process=...) may need) keeps the loss.
    assert answers_of(pickle.loads(pickle.dumps(nlp))) == expected


def test_expected_f1_alone_learns_overlapping_answers():
    """The write-up's loss on its own, from scratch, settles on spans that
    overlap the answers (its gradient p * (f1 - E[f1]) vanishes once the
    probability is concentrated on one span): expected F1 rises, but the
    spans found need not be exact. This is what the mixed objective fixes."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    loss = {"@losses": "spacy-globalpointer.ExpectedF1Loss.v1", "entropy_weight": 0.01}
    nlp.add_pipe("globalpointer_extractor", config={"loss": loss})
    examples = make_qa_examples(nlp)
    first = train(nlp, examples, n_iter=1)["globalpointer_extractor"]
    last = train(nlp, examples, n_iter=60)["globalpointer_extractor"]
    assert last < first and last < -0.5  # mean expected F1 above 0.5
    scores = nlp.evaluate(examples)
    assert scores["answer_f1"] > 0.5


@pytest.fixture(scope="module")
def trained():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_extractor", config={"max_length": 8})
    train(nlp, make_qa_examples(nlp), n_iter=40)
    return nlp


def random_text(n_chars, seed):
    """A long context without repeated passages (repeats tie in score)."""
    chars = sorted(set("".join(c for _, c, _ in QA_DATA)))
    rng = numpy.random.default_rng(seed)
    return "".join(rng.choice(chars, size=n_chars))


def brute_force_answer(nlp, doc):
    """The best allowed span and its probability, from the head's output for
    the whole doc, enumerating the spans."""
    pipe = nlp.get_pipe("globalpointer_extractor")
    tokvecs = pipe.model.get_ref("tok2vec").predict([doc])
    out = pipe._head.predict(tokvecs)
    start, end = context_bounds(doc)
    found = []
    for s in range(start, end):
        for e in range(s + 1, min(end, s + pipe.max_length) + 1):
            block, row, col, ok = out.layout.position([0], [s], [e])
            assert ok[0]
            found.append((float(out.scores[block[0], 0, row[0], col[0]]), s, e))
    logits = numpy.asarray([f[0] for f in found], dtype="float64")
    best = found[int(logits.argmax())]
    return best[1], best[2], float(numpy.exp(logits.max() - numpy.logaddexp.reduce(logits)))


def test_answer_is_argmax_over_context_with_softmax_probability(trained):
    long_context = random_text(150, seed=0)
    docs = [make_question_doc(trained, q, c) for q, c, _ in QA_DATA]
    docs.append(make_question_doc(trained, "北京在哪里？", long_context))
    for doc in trained.pipe(docs):
        span = doc.spans[KEY][0]
        start, end = context_bounds(doc)
        assert start <= span.start and span.end <= end  # never in the question
        s, e, p = brute_force_answer(trained, doc)
        assert (span.start, span.end) == (s, e)
        assert float(doc.spans[KEY].attrs["scores"][0]) == pytest.approx(p, rel=1e-4)


def test_windowed_prediction_equals_whole_doc(trained, monkeypatch):
    """Cutting long docs into windows of 5 span starts, scored in many head
    calls, gives the same answers and probabilities (the softmax normaliser is
    combined over windows)."""
    context = random_text(120, seed=1)
    docs = [make_question_doc(trained, q, context) for q, _, _ in QA_DATA]
    whole = [(d.spans[KEY][0].start, d.spans[KEY][0].end, float(d.spans[KEY].attrs["scores"][0]))
             for d in trained.pipe(docs)]
    monkeypatch.setattr(gp_base, "PREDICT_WINDOW", 5)
    # A few score entries per head call: the windows are scored in many groups.
    monkeypatch.setattr(gp_base, "PREDICT_BATCH_SCORES", 200)
    docs = [make_question_doc(trained, q, context) for q, _, _ in QA_DATA]
    windowed = [(d.spans[KEY][0].start, d.spans[KEY][0].end, float(d.spans[KEY].attrs["scores"][0]))
                for d in trained.pipe(docs)]
    for a, b in zip(whole, windowed):
        assert a[:2] == b[:2]
        assert a[2] == pytest.approx(b[2], rel=1e-5)


def test_threshold_and_docs_without_context(trained):
    pipe = trained.get_pipe("globalpointer_extractor")
    docs = [make_question_doc(trained, q, c) for q, c, _ in QA_DATA]
    probs = [float(d.spans[KEY].attrs["scores"][0]) for d in trained.pipe(docs)]
    pipe.cfg["threshold"] = float(numpy.median(probs))
    try:
        docs = list(trained.pipe(make_question_doc(trained, q, c) for q, c, _ in QA_DATA))
        kept = [len(d.spans[KEY]) for d in docs]
        assert kept == [int(p > pipe.cfg["threshold"]) for p in probs]
        pipe.cfg["threshold"] = 1.0
        assert all(len(d.spans[KEY]) == 0 for d in trained.pipe(["问题 [SEP] 贝尔发明了电话。"]))
    finally:
        pipe.cfg["threshold"] = 0.0
    # No context tokens, an empty doc, and a batch of only empty docs.
    docs = list(trained.pipe(["只有问题？ [SEP]", "", "贝尔发明了电话。"]))
    assert [len(d.spans[KEY]) for d in docs] == [0, 0, 1]
    assert [len(d.spans[KEY]) for d in trained.pipe(["", ""])] == [0, 0]


def test_training_reads_the_reference_context_when_predicted_docs_are_bare():
    """A corpus reader gives predicted docs without span groups; the context
    then comes from the reference (or the separator)."""
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe("globalpointer_extractor", config={"separator": None})
    ref = make_question_doc(nlp, "谁发明了电话？", "贝尔发明了电话。", answers={"ANSWER": (0, 2)})
    bare = Example(nlp.make_doc(ref.text), ref)
    assert pipe._example_context(bare) == (12, 20)
    # Without the group and without a separator setting: the whole doc.
    del ref.spans["context"]
    assert pipe._example_context(Example(nlp.make_doc(ref.text), ref)) == (0, len(ref))


def test_gold_errors_and_warnings():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_extractor", config={"max_length": 3})
    examples = make_qa_examples(nlp)
    # Two answers of one type in a doc: GP020.
    ref = examples[0].reference
    ref.spans[KEY] = list(ref.spans[KEY]) + [ref.char_span(14, 16, label="ANSWER")]
    with pytest.raises(ValueError, match="GP020"):
        nlp.initialize(lambda: examples)
    # Answers longer than max_length (3) or outside the context: GPW020.
    examples = make_qa_examples(nlp)
    outside = make_question_doc(nlp, "北京在哪里？", "北京位于华北平原的北部。")
    outside.spans[KEY] = [outside.char_span(0, 2, label="ANSWER")]  # in the question
    examples.append(Example(nlp.make_doc(outside.text), outside))
    with pytest.warns(UserWarning, match=r"GPW020.* 3 of 5 .*2 longer .* 1 outside"):
        nlp.initialize(lambda: examples)


def test_bad_settings():
    nlp = spacy.blank("zh")
    with pytest.raises(ValueError, match="GP001"):
        nlp.add_pipe("globalpointer_extractor", config={"threshold": 1.5})
    with pytest.raises(ValueError, match="GP003.*`context_key`"):
        nlp.add_pipe("globalpointer_extractor", config={"context_key": ""})
    with pytest.raises(ValueError, match="GP003.*`spans_key`"):
        nlp.add_pipe("globalpointer_extractor", config={"spans_key": ""})
    with pytest.raises(ValueError, match="entropy_weight"):
        nlp.add_pipe("globalpointer_extractor", config={
            "loss": {"@losses": "spacy-globalpointer.ExpectedF1Loss.v1", "entropy_weight": -1.0}})
    pipe = nlp.add_pipe("globalpointer_extractor")
    assert isinstance(pipe, GlobalPointerExtractor)
    with pytest.raises(ValueError, match="GP004"):
        pipe.predict([nlp("问题 [SEP] 上下文")])


def test_two_types_get_one_answer_each():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_extractor")
    data = [("商品", "苹果手机售价五千元。", {"NAME": (0, 4), "PRICE": (6, 9)}),
            ("商品", "华为电脑售价八千元。", {"NAME": (0, 4), "PRICE": (6, 9)})]
    examples = [Example(make_question_doc(nlp, q, c), make_question_doc(nlp, q, c, answers=a))
                for q, c, a in data]
    train(nlp, examples, n_iter=60)
    for doc, (_, c, answers) in zip(nlp.pipe(eg.predicted for eg in examples), data):
        got = {s.label_: s.text for s in doc.spans[KEY]}
        assert got == {label: c[a:b] for label, (a, b) in answers.items()}
    assert nlp.get_pipe("globalpointer_extractor").labels == ("NAME", "PRICE")


def test_extractor_beside_globalpointer_ner():
    """Both pipes in one pipeline: the NER pipe's score-weight check knows
    the extractor's scores, and each reads its own span group."""
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.add_pipe("globalpointer_extractor")
    examples = make_qa_examples(nlp)
    for eg in examples:
        eg.reference.spans["sc"] = [eg.reference.char_span(0, 2, label="Q")]
    nlp.initialize(lambda: examples)
    weights = nlp.config["training"]["score_weights"]
    assert weights["answer_f1"] > 0 and weights["spans_sc_f"] > 0
    doc = nlp(make_question_doc(nlp, *QA_DATA[0][:2]))
    assert len(doc.spans[KEY]) == 1 and "sc" in doc.spans
