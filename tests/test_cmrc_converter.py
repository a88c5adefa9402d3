"""The CMRC 2018 converter (project/scripts/convert_cmrc.py) on tiny
synthetic files in the official format, with every kind of offset problem."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_globalpointer import context_bounds

from scripts import convert_cmrc  # project/ is on sys.path (conftest.py)

NLP = spacy.blank("zh")


def article(i, context, qas):
    return {
        "id": f"DEV_{i}",
        "title": f"t{i}",
        "paragraphs": [{
            "id": f"DEV_{i}",
            "context": context,
            "qas": [
                {"id": f"DEV_{i}_QUERY_{k}", "question": q,
                 "answers": [{"text": t, "answer_start": s} for t, s in answers]}
                for k, (q, answers) in enumerate(qas)
            ],
        }],
    }


# Article 0: a correct offset; a wrong offset whose text occurs once
# (relocated); a first answer that cannot be found and a usable second one.
# Article 1: only unusable answers (an ambiguous text, a missing text), and
# an answer with a trailing space. Articles 2..9: plain questions.
ARTICLES = [
    article(0, "北京是中国的首都，上海是经济中心。", [
        ("中国的首都是哪里？", [("北京", 0), ("北京", 0), ("北京是", 0)]),
        ("哪里是经济中心？", [("上海", 3)]),
        ("首都是什么？", [("天津", -1), ("北京", 0)]),
    ]),
    article(1, "长江很长，长江很宽 啊。", [
        ("什么很长？", [("长江", 2), ("黄河", -1)]),
        ("什么很宽？", [("长江很宽 ", 5)]),
    ]),
] + [article(i, f"第{i}篇文章说的是猫。", [("说的是什么？", [("猫", 8)])]) for i in range(2, 10)]


@pytest.fixture
def converted(tmp_path):
    source = tmp_path / "cmrc"
    source.mkdir()
    (source / "cmrc2018_dev.json").write_text(
        json.dumps({"version": "v1.0", "data": ARTICLES}, ensure_ascii=False), encoding="utf8"
    )
    trial = [article(100, "这是试用集。", [("这是什么？", [("试用集", 2)])])]
    (source / "cmrc2018_trial.json").write_text(
        json.dumps({"version": "v1.0", "data": trial}, ensure_ascii=False), encoding="utf8"
    )
    out = tmp_path / "corpus"
    return convert_cmrc.convert(source, out, seed=0), out


def load(path):
    return list(DocBin().from_disk(path).get_docs(NLP.vocab))


def test_every_offset_problem_is_counted_with_examples(converted):
    summary, out = converted
    dev = summary["files"]["dev"]
    assert dev["articles"] == 10 and dev["questions"] == 13 and dev["answers"] == 17
    assert dev["relocated"] == 1  # 上海 at 3 -> 9
    assert dev["not_found"] == 2  # 天津, 黄河
    assert dev["ambiguous"] == 1  # 长江 at 2 (it occurs twice)
    assert dev["trimmed_whitespace"] == 1
    assert dev["gold_from_later_answer"] == 1  # 首都是什么？ uses its second answer
    assert dev["questions_without_usable_answer"] == 1  # 什么很长？
    assert "上海" in dev["examples"]["relocated"][0]
    assert json.loads((out / "report.json").read_text(encoding="utf8"))["files"]["dev"] == dev


def test_split_is_by_article_and_seeded(converted, tmp_path):
    summary, out = converted
    docs = {split: load(out / f"{split}.spacy") for split in convert_cmrc.OUTPUT_SPLITS}
    articles = {
        split: {d.user_data["id"].rsplit("_QUERY", 1)[0] for d in ds} for split, ds in docs.items()
    }
    assert not articles["train"] & articles["dev"] and not articles["train"] & articles["test"]
    assert not articles["dev"] & articles["test"]
    assert [len(articles[s]) for s in ("train", "dev", "test")] == [8, 1, 1]
    assert articles["trial"] == {"DEV_100"}
    # Same seed, same split.
    again = convert_cmrc.convert(tmp_path / "cmrc", tmp_path / "again", seed=0)
    assert again["splits"] == summary["splits"]


def test_docs_hold_question_context_gold_span_and_all_answer_strings(converted):
    _, out = converted
    docs = [d for s in convert_cmrc.OUTPUT_SPLITS for d in load(out / f"{s}.spacy")]
    by_id = {d.user_data["id"]: d for d in docs}
    doc = by_id["DEV_0_QUERY_1"]
    assert doc.text.startswith("哪里是经济中心？ [SEP] ")
    start, end = context_bounds(doc)
    assert doc[start:end].text == "北京是中国的首都，上海是经济中心。"
    assert [(s.text, s.label_) for s in doc.spans["answer"]] == [("上海", "ANSWER")]
    assert list(by_id["DEV_0_QUERY_0"].user_data["answers"]["ANSWER"]) == ["北京", "北京", "北京是"]
    assert [s.text for s in by_id["DEV_0_QUERY_2"].spans["answer"]] == ["北京"]
    # The context is also found from the text alone (as after re-tokenizing).
    assert context_bounds(NLP(doc.text)) == (start, end)


@pytest.mark.parametrize("seed,split", [(0, "train"), (1, "dev")])
def test_question_without_usable_answer_is_dropped_from_train_only(tmp_path, converted, seed, split):
    """Seed 0 puts article 1 (one question without usable answer) in train,
    seed 1 in dev."""
    summary = convert_cmrc.convert(tmp_path / "cmrc", tmp_path / f"seed{seed}", seed=seed)
    docs = load(tmp_path / f"seed{seed}" / f"{split}.spacy")
    ids = [d.user_data["id"] for d in docs]
    assert "DEV_1_QUERY_1" in ids
    if split == "train":
        assert "DEV_1_QUERY_0" not in ids
        assert summary["splits"]["train"]["dropped_without_gold"] == 1
    else:
        doc = docs[ids.index("DEV_1_QUERY_0")]
        assert len(doc.spans["answer"]) == 0
        assert list(doc.user_data["answers"]["ANSWER"]) == ["长江", "黄河"]
        assert summary["splits"]["dev"]["without_gold_span"] == 1
    # The trimmed answer keeps its text without the space.
    trimmed = docs[ids.index("DEV_1_QUERY_1")]
    assert [s.text for s in trimmed.spans["answer"]] == ["长江很宽"]


def test_train_file_when_present_and_format_errors(tmp_path):
    source = tmp_path / "cmrc"
    source.mkdir()
    data = json.dumps({"data": ARTICLES}, ensure_ascii=False)
    for name in ("train", "dev"):
        (source / f"cmrc2018_{name}.json").write_text(data, encoding="utf8")
    summary = convert_cmrc.convert(source, tmp_path / "out", seed=0)
    assert summary["splits"]["train"]["questions"] == 13
    assert summary["splits"]["dev"]["articles"] + summary["splits"]["test"]["articles"] == 10
    assert summary["splits"]["trial"]["docs"] == 0
    (source / "cmrc2018_dev.json").write_text('{"data": [{"paragraphs": [{}]}]}', encoding="utf8")
    with pytest.raises(convert_cmrc.CmrcFormatError, match="cmrc2018_dev.json"):
        convert_cmrc.convert(source, tmp_path / "bad")
