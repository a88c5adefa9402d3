"""The CMRC 2018 answer metrics, against values computed by hand."""
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import registry

from spacy_globalpointer.extractor.scorer import (
    answer_exact_match,
    answer_f1,
    answer_score,
    longest_common_run,
    normalize_answer,
    segment_answer,
)


def test_segmentation_splits_cjk_per_character_and_other_runs_into_words():
    assert segment_answer("1998年北京 Olympic Games!") == [
        "1998", "年", "北", "京", "olympic", "games", "!",
    ]
    # Official punctuation goes (also inside runs: "a-b" becomes "ab"),
    # ASCII . and ! stay; decimal numbers are one word.
    assert segment_answer("《北京》，a-b 3.5 km.") == ["北", "京", "ab", "3.5", "km", "."]
    assert segment_answer("  ") == []


def test_normalisation_for_exact_match():
    assert normalize_answer(" 《北京》 ") == "北京"
    assert normalize_answer("A-B") == "ab"
    assert normalize_answer("北 京") == "北 京"  # inner spaces count for EM
    assert normalize_answer("…") == "…"  # the official list has "……", never one char


def test_longest_common_run_is_contiguous():
    assert longest_common_run(list("北京大学"), list("北大学")) == 2  # 大学, not 北大学
    assert longest_common_run(list("abc"), list("xyz")) == 0
    assert longest_common_run([], list("abc")) == 0


@pytest.mark.parametrize(
    "prediction,answers,f1,em",
    [
        ("北京", ["北京"], 1.0, 1.0),
        # 2 common of 5 predicted, 2 gold: P = 2/5, R = 1, F1 = 0.8 / 1.4
        ("北京天安门", ["北京"], 4 / 7, 0.0),
        # contiguous: 大学 (2) of 3 predicted, 4 gold: P = 2/3, R = 1/2, F1 = 4/7
        ("北大学", ["北京大学"], 4 / 7, 0.0),
        # "1998" is one segment: 1 of 2 predicted, 1 gold: F1 = 2/3
        ("1998年", ["1998"], 2 / 3, 0.0),
        # best of the answers
        ("北京大学", ["北京", "北京大学"], 1.0, 1.0),
        ("北 京", ["《北京》"], 1.0, 0.0),
        ("", ["北京"], 0.0, 0.0),
        ("上海", ["北京"], 0.0, 0.0),
    ],
)
def test_f1_and_em_by_hand(prediction, answers, f1, em):
    assert answer_f1(prediction, answers) == pytest.approx(f1)
    assert answer_exact_match(prediction, answers) == em


def _example(nlp, text, gold=None, predicted=None, answers=None, label="ANSWER"):
    ref = nlp.make_doc(text)
    if gold is not None:
        ref.spans["answer"] = [ref.char_span(*gold, label=label)] if gold else []
    if answers is not None:
        ref.user_data["answers"] = {label: answers}
    pred = nlp.make_doc(text)
    pred.spans["answer"] = [pred.char_span(*predicted, label=label)] if predicted else []
    return Example(pred, ref)


def test_scorer_averages_best_answer_scores_over_questions():
    nlp = spacy.blank("zh")
    examples = [
        # exact: F1 1, EM 1
        _example(nlp, "北京是首都", gold=(0, 2), predicted=(0, 2)),
        # answer strings win over the gold span: best of [北京是, 首都] for 首都
        _example(nlp, "北京是首都", gold=(0, 2), predicted=(3, 5), answers=["北京是", "首都"]),
        # 北京天安门 vs 北京: F1 4/7, EM 0
        _example(nlp, "北京天安门", gold=(0, 2), predicted=(0, 5)),
        # no prediction: 0
        _example(nlp, "上海很大", gold=(0, 2), predicted=None),
    ]
    scores = answer_score(examples, spans_key="answer")
    assert scores["answer_f1"] == pytest.approx((1 + 1 + 4 / 7 + 0) / 4)
    assert scores["answer_em"] == pytest.approx(2 / 4)
    assert scores["answer_per_type"]["ANSWER"]["n"] == 4


def test_scorer_no_answer_convention_and_unannotated_docs():
    nlp = spacy.blank("zh")
    examples = [
        _example(nlp, "北京是首都", gold=(), predicted=None),  # no answer, none predicted: 1
        _example(nlp, "北京是首都", gold=(), predicted=(0, 2)),  # no answer, one predicted: 0
        _example(nlp, "北京是首都", gold=None, predicted=(0, 2)),  # not annotated: skipped
    ]
    scores = answer_score(examples, spans_key="answer", labels=["ANSWER"])
    assert scores["answer_f1"] == 0.5 and scores["answer_em"] == 0.5
    assert scores["answer_per_type"]["ANSWER"]["n"] == 2
    empty = answer_score(examples[2:], spans_key="answer")
    assert empty["answer_f1"] is None and empty["answer_per_type"] == {}


def test_answer_strings_survive_docbin_and_registered_scorer_reads_them():
    nlp = spacy.blank("zh")
    eg = _example(nlp, "北京是首都", gold=(0, 2), predicted=(3, 5), answers=["北京", "首都"])
    ref = list(DocBin(docs=[eg.reference], store_user_data=True).get_docs(nlp.vocab))[0]
    scorer = registry.scorers.get("spacy-globalpointer.answer_scorer.v1")()
    scores = scorer([Example(eg.predicted, ref)], spans_key="answer", labels=("ANSWER",))
    assert scores["answer_f1"] == 1.0
    # With another key for the answer strings, the gold span (北京) counts.
    other = registry.scorers.get("spacy-globalpointer.answer_scorer.v1")(answers_key="other")
    assert other([Example(eg.predicted, ref)], spans_key="answer")["answer_f1"] == 0.0
