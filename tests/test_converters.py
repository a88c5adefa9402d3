"""Tests of the corpus converters in project/scripts (convert.py, corpora/).

Every format gets a tiny synthetic corpus written to tmp_path; the real
corpora are not needed.
"""
import json
import zipfile
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from scripts import convert, corpora, visualize  # project/ is on sys.path (conftest.py)

NLP = spacy.blank("zh")


def load(path):
    return list(DocBin().from_disk(path).get_docs(NLP.vocab))


def spans_of(doc, key="sc"):
    return [(s.text, s.label_) for s in doc.spans[key]]


def ents_of(doc):
    return [(e.text, e.label_) for e in doc.ents]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(records):
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"


def run_cli(*args):
    return CliRunner().invoke(convert.app, [str(a) for a in args])


# ---------------------------------------------------------------------------
# CLUENER


def cluener_dir(tmp_path):
    d = tmp_path / "cluener"
    train = [
        {"text": "浙商银行叶老桂", "label": {"company": {"浙商银行": [[0, 3]]}, "name": {"叶老桂": [[4, 6]]}}},
        # nested: a book title containing a company
        {"text": "《招商银行报告》", "label": {"book": {"《招商银行报告》": [[0, 7]]}, "company": {"招商银行": [[1, 4]]}}},
        # text mismatch and out of range
        {"text": "北京欢迎你", "label": {"address": {"上海": [[0, 1]], "北京": [[0, 1]], "欢迎你啊": [[2, 5]]}}},
    ]
    dev = [{"text": "玩CSOL", "label": {"game": {"CSOL": [[1, 4]]}}}]
    test = [{"id": 0, "text": "没有标注"}]
    write(d / "train.json", jsonl(train))
    write(d / "dev.json", jsonl(dev))
    write(d / "test.json", jsonl(test))
    write(d / "PROVENANCE.md", "ignored")
    return d


def test_cluener(tmp_path):
    conv = convert.convert("cluener", cluener_dir(tmp_path), tmp_path / "out", progress=False)
    train, dev, test = (load(tmp_path / "out" / f"{s}.spacy") for s in corpora.SPLITS)
    # The test file is unlabeled: the official dev is test, and a seeded part
    # of train (at least one doc) is dev.
    assert len(train) == 2 and len(dev) == 1
    docs = {d.text: d for d in train + dev}
    assert spans_of(docs["浙商银行叶老桂"]) == [("浙商银行", "company"), ("叶老桂", "name")]
    assert ents_of(docs["浙商银行叶老桂"]) == [("浙商银行", "company"), ("叶老桂", "name")]
    # doc.spans keeps both nested spans, doc.ents only the longest
    assert spans_of(docs["《招商银行报告》"]) == [("《招商银行报告》", "book"), ("招商银行", "company")]
    assert ents_of(docs["《招商银行报告》"]) == [("《招商银行报告》", "book")]
    assert spans_of(docs["北京欢迎你"]) == [("北京", "address")]
    # per-character tokens
    assert [t.text for t in docs["浙商银行叶老桂"]] == list("浙商银行叶老桂")
    assert [d.text for d in test] == ["玩CSOL"]
    assert spans_of(test[0]) == [("CSOL", "game")]
    expected_dev, _ = corpora._seeded_parts(3, (0.1, 0.9), 0)
    assert [d.text for d in dev] == [["浙商银行叶老桂", "《招商银行报告》", "北京欢迎你"][i] for i in expected_dev]
    assert len(conv.skipped) == 1 and "test.json" in conv.skipped[0]
    rep = {r.split: r for r in conv.reports}
    assert rep["test"].unlabeled
    assert rep["train"].spans_read == 7 and rep["train"].spans_kept == 5
    assert rep["train"].problems == {
        corpora.TEXT_MISMATCH: 1,
        corpora.OUT_OF_RANGE: 1,
        corpora.ENTS_OVERLAP: 1,
    }
    assert "上海" in rep["train"].examples[corpora.TEXT_MISMATCH][0]
    assert "北京欢迎你" in rep["train"].examples[corpora.OUT_OF_RANGE][0]
    assert conv.splits["train"].spans + conv.splits["dev"].spans == 5
    assert conv.splits["train"].ents + conv.splits["dev"].ents == 4
    assert conv.splits["train"].overlapping_pairs + conv.splits["dev"].overlapping_pairs == 1
    assert conv.splits["test"].labels == {"game": 1}


def test_cluener_cli_and_limit(tmp_path):
    result = run_cli("cluener", cluener_dir(tmp_path), tmp_path / "out", "--limit", "2", "--spans-key", "gold")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "text_mismatch" in output and "the official dev set is test" in output
    train = load(tmp_path / "out" / "train.spacy")
    assert len(train) == 2
    assert all("gold" in d.spans and "sc" not in d.spans for d in train)


# ---------------------------------------------------------------------------
# CMeEE (nested)


def cmeee_records(n=10):
    records = []
    for i in range(n):
        records.append(
            {
                "text": f"患者{i}有肺部感染",
                "entities": [
                    {"start_idx": 4, "end_idx": 7, "type": "dis", "entity": "肺部感染"},
                    {"start_idx": 4, "end_idx": 5, "type": "bod", "entity": "肺部"},
                ],
            }
        )
    # same span with two types, a crossing pair, and an exact duplicate
    records[0]["entities"] += [
        {"start_idx": 4, "end_idx": 7, "type": "sym", "entity": "肺部感染"},
        {"start_idx": 3, "end_idx": 4, "type": "sym", "entity": "有肺"},
        {"start_idx": 4, "end_idx": 5, "type": "bod", "entity": "肺部"},
    ]
    return records


def test_cmeee_nested_split(tmp_path):
    d = tmp_path / "cmeee_v2"
    write(d / "CMeEE-V2_dev.json", json.dumps(cmeee_records(), ensure_ascii=False, indent=2))
    write(d / "CMeEE-V2_test.json", json.dumps([{"text": "无", "entities": []}] * 3, ensure_ascii=False))
    conv = convert.convert("cmeee_v2", d, tmp_path / "out", progress=False)
    splits = {s: load(tmp_path / "out" / f"{s}.spacy") for s in corpora.SPLITS}
    assert [len(splits[s]) for s in corpora.SPLITS] == [8, 1, 1]
    texts = [doc.text for s in corpora.SPLITS for doc in splits[s]]
    assert sorted(texts) == sorted(r["text"] for r in cmeee_records())
    for docs in splits.values():  # each part keeps the file order
        assert [doc.text for doc in docs] == sorted(doc.text for doc in docs)
    first = next(doc for docs in splits.values() for doc in docs if doc.text.startswith("患者0"))
    assert spans_of(first) == [("有肺", "sym"), ("肺部", "bod"), ("肺部感染", "dis"), ("肺部感染", "sym")]
    assert len(first.ents) == 0  # nested corpora: doc.spans only
    rep = {r.split: r for r in conv.reports}
    assert rep["test"].unlabeled and "dev" not in conv.skipped
    assert rep["dev"].problems == {corpora.DUPLICATE: 1}
    assert rep["dev"].spans_read == 23 and rep["dev"].spans_kept == 22
    # 9 docs with one nested pair, one doc with 4 spans overlapping pairwise
    assert sum(st.overlapping_pairs for st in conv.splits.values()) == 9 + 6
    assert "80/10/10" in conv.notes[0]
    # reproducible with the same seed, different with another
    again = convert.convert("cmeee", d, tmp_path / "again", seed=0, progress=False)
    other = convert.convert("cmeee", d, tmp_path / "other", seed=1, progress=False)
    assert (tmp_path / "out" / "dev.spacy").read_bytes() == (tmp_path / "again" / "dev.spacy").read_bytes()
    assert again.splits["dev"].docs == 1
    assert [doc.text for doc in load(tmp_path / "other" / "train.spacy")] != [
        doc.text for doc in splits["train"]
    ]
    assert other.splits["train"].docs == 8


def test_whitespace_spans(tmp_path):
    """spaCy attaches a space to the previous token: spans on whitespace are
    trimmed, or counted as misaligned when nothing is left."""
    d = tmp_path / "cmeee"
    recs = [
        {
            "text": "ab  cd",
            "entities": [
                {"start_idx": 1, "end_idx": 2, "type": "x", "entity": "b "},  # trimmed to "b"
                {"start_idx": 2, "end_idx": 2, "type": "x", "entity": " "},  # misaligned
                {"start_idx": 4, "end_idx": 5, "type": "y", "entity": "cd"},
                {"start_idx": 5, "end_idx": 4, "type": "y"},  # empty
            ],
        }
    ]
    write(d / "CMeEE_dev.json", json.dumps(recs, ensure_ascii=False))
    rep = corpora.FileReport("f", "dev")
    records = corpora.read_cmeee(str(d / "CMeEE_dev.json"))
    doc = corpora.build_doc(NLP, records[0], rep, "sc", nested=True)
    assert spans_of(doc) == [("b", "x"), ("cd", "y")]
    assert rep.problems == {
        corpora.TRIMMED: 1,
        corpora.MISALIGNED: 1,
        corpora.EMPTY: 1,
        corpora.NON_CHAR_DOC: 1,
    }


# ---------------------------------------------------------------------------
# BIO / BMES column formats


def column(sentences, sep):
    return "".join("".join(f"{c}{sep}{t}\n" for c, t in s) + "\n" for s in sentences)


def sent(text, tags):
    tags = tags.split()
    assert len(text) == len(tags)
    return list(zip(text, tags))


def test_bio_tab_msra_from_zip(tmp_path):
    train = [sent(f"北京{chr(0x4e00 + i)}", "B-LOC I-LOC O") for i in range(20)]
    test = [sent("张三在微软", "B-PER I-PER O B-ORG I-ORG")]
    src = tmp_path / "src"
    write(src / "msra_train_bio", column(train, "\t"))
    write(src / "msra_test_bio", column(test, "\t"))
    d = tmp_path / "msra"
    d.mkdir()
    with zipfile.ZipFile(d / "MSRA.zip", "w") as zf:
        zf.write(src / "msra_train_bio", "msra_train_bio")
        zf.write(src / "msra_test_bio", "msra_test_bio")
    conv = convert.convert("msra", d, tmp_path / "out", progress=False)
    out = {s: load(tmp_path / "out" / f"{s}.spacy") for s in corpora.SPLITS}
    assert [len(out[s]) for s in corpora.SPLITS] == [19, 1, 1]  # 5% of train is dev
    assert spans_of(out["test"][0]) == [("张三", "PER"), ("微软", "ORG")]
    assert ents_of(out["test"][0]) == [("张三", "PER"), ("微软", "ORG")]
    assert spans_of(out["dev"][0]) == [("北京", "LOC")]
    assert conv.splits["train"].labels == {"LOC": 19}
    assert "5%" in conv.notes[0]


def test_bio_space_peoples_daily(tmp_path):
    d = tmp_path / "pd"
    write(d / "example.dev", column([sent("在上海", "O B-LOC I-LOC")] * 3, " "))
    write(d / "example.test", column([sent(f"{i}王五", "O B-PER I-PER") for i in range(10)], " "))
    conv = convert.convert("bio_space", d, tmp_path / "out", progress=False)
    assert [conv.splits[s].docs for s in corpora.SPLITS] == [8, 2, 3]
    test = load(tmp_path / "out" / "test.spacy")
    assert spans_of(test[0]) == [("上海", "LOC")]
    assert conv.splits["train"].labels == {"PER": 8}


def test_bio_ill_formed(tmp_path):
    """I- without B-: counted, then repaired (new entity) or dropped."""
    d = tmp_path / "pd"
    sents = [
        sent("甲乙丙丁", "O I-PER I-PER O"),  # orphan I- run
        sent("甲乙丙丁", "B-PER I-PER I-LOC I-LOC"),  # type switch
        sent("甲乙丙丁", "B-PER I-PER O B-LOC"),  # well formed
    ]
    write(d / "example.train", column(sents, " "))
    write(d / "example.dev", column(sents[2:], " "))
    write(d / "example.test", column(sents[2:], " "))
    conv = convert.convert("bio_space", d, tmp_path / "rep", progress=False)
    docs = load(tmp_path / "rep" / "train.spacy")
    assert spans_of(docs[0]) == [("乙丙", "PER")]
    assert spans_of(docs[1]) == [("甲乙", "PER"), ("丙丁", "LOC")]
    assert spans_of(docs[2]) == [("甲乙", "PER"), ("丁", "LOC")]
    rep = conv.reports[0]
    assert rep.problems == {corpora.ILL_FORMED: 2}
    assert "I-PER after O" in rep.examples[corpora.ILL_FORMED][0]
    assert "甲乙丙丁" in rep.examples[corpora.ILL_FORMED][0]
    conv = convert.convert("bio_space", d, tmp_path / "drop", ill_formed="drop", progress=False)
    docs = load(tmp_path / "drop" / "train.spacy")
    assert spans_of(docs[0]) == [] and spans_of(docs[1]) == [("甲乙", "PER")]
    assert conv.reports[0].problems == {corpora.ILL_FORMED: 2}
    assert convert._dropped(conv.reports[0], "drop") == 2


def test_bmes_resume(tmp_path):
    d = tmp_path / "resume"
    train = [
        sent("高勇男中国国籍", "B-NAME E-NAME O B-CONT M-CONT M-CONT E-CONT"),
        sent("汉族", "S-RACE S-RACE"),
        sent("俄罗斯圣", "O B-ORG M-ORG M-ORG"),  # cut by the sentence split
        sent("彼得堡院士", "M-ORG E-ORG O B-TITLE E-TITLE"),
    ]
    write(d / "train.char.bmes", column(train, " "))
    write(d / "dev.char.bmes", column(train[:1], " "))
    write(d / "test.char.bmes", column(train[1:2], " "))
    conv = convert.convert("resume_ner", d, tmp_path / "out", progress=False)
    docs = load(tmp_path / "out" / "train.spacy")
    assert spans_of(docs[0]) == [("高勇", "NAME"), ("中国国籍", "CONT")]
    assert spans_of(docs[1]) == [("汉", "RACE"), ("族", "RACE")]
    assert spans_of(docs[2]) == [("罗斯圣", "ORG")]
    assert spans_of(docs[3]) == [("彼得", "ORG"), ("院士", "TITLE")]
    rep = conv.reports[0]
    assert rep.problems == {corpora.ILL_FORMED: 2}
    assert any("no closing E-" in ex for ex in rep.examples[corpora.ILL_FORMED])
    assert any("M-ORG at sentence start" in ex for ex in rep.examples[corpora.ILL_FORMED])
    assert "official train/dev/test" in conv.notes[0]


def test_decode_tags():
    assert corpora.decode_tags("B-A I-A O I-B".split(), "bio") == [
        (0, 2, "A", []),
        (3, 4, "B", ["I-B after O"]),
    ]
    assert corpora.decode_tags("S-A B-B M-B E-B B-A".split(), "bmes") == [
        (0, 1, "A", []),
        (1, 4, "B", []),
        (4, 5, "A", ["no closing E-"]),
    ]


def test_weibo(tmp_path):
    d = tmp_path / "weibo"
    lines = [
        "我0\tO", "是1\tO", "女0\tB-PER.NOM", "人1\tI-PER.NOM", "\n",
        "看0\tO", "p10\tO", "310\tO", "张0\tI-PER.NAM", "三1\tI-PER.NAM",
        "\ufffd\ufffd0\tO", "北0\tB-GPE.NAM", "京1\tI-GPE.NAM", "\n",
    ]
    text = "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
    for split in corpora.SPLITS:
        write(d / f"weiboNER_2nd_conll.{split}", text)
    conv = convert.convert("weibo", d, tmp_path / "out", progress=False)
    docs = load(tmp_path / "out" / "train.spacy")
    assert [doc.text for doc in docs] == ["我是女人", "看p3张三\ufffd\ufffd北京"]
    assert spans_of(docs[0]) == [("女人", "PER.NOM")]
    assert spans_of(docs[1]) == [("张三", "PER.NAM"), ("北京", "GPE.NAM")]
    assert docs[1].spans["sc"][1].start_char == 7
    assert conv.reports[0].problems == {corpora.ILL_FORMED: 1}
    assert conv.splits["test"].labels == {"PER.NOM": 1, "PER.NAM": 1, "GPE.NAM": 1}


# ---------------------------------------------------------------------------
# Malformed files: a one-line message and exit code 1, no traceback


@pytest.mark.parametrize(
    "fmt,name,content,expected",
    [
        ("cluener", "train.json", '{"text": "a", "label": {}}\n{"text": "b", \n', "train.json line 2: invalid JSON"),
        ("cluener", "train.json", '{"text": "ab", "label": {"x": {"a": [[0]]}}}\n', "train.json line 1: bad offsets"),
        ("cluener", "train.json", '{"label": {}}\n', 'train.json line 1: missing or non-string "text"'),
        ("cmeee", "CMeEE_dev.json", '[{"text": "a", "entities": [{"start_idx": 0}]}]', "CMeEE_dev.json record 1: entity 0"),
        ("cmeee", "CMeEE_dev.json", '[{"text": "a",\n "entities": ]', "CMeEE_dev.json line 2: invalid JSON"),
        ("bio_tab", "msra_train_bio", "中\tB-LOC\n国\n", "msra_train_bio line 2: expected 'char<TAB>tag'"),
        ("bio_space", "example.dev", "中 B-LOC\n国 X-LOC\n", "example.dev line 2: unknown BIO tag 'X-LOC'"),
        ("bmes", "train.char.bmes", "中 B-LOC\n国 I-LOC\n", "train.char.bmes line 2: unknown BMES tag 'I-LOC'"),
        ("weibo", "weibo.train", "中0\tO\n国\tO\n", "weibo.train line 2: expected a character followed by a segmentation digit"),
    ],
)
def test_malformed_file(tmp_path, fmt, name, content, expected):
    d = tmp_path / "in"
    write(d / name, content)
    result = run_cli(fmt, d, tmp_path / "out")
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "train.spacy").exists()


def test_bad_utf8_and_cli_errors(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "example.dev").write_bytes("中 O\n".encode() + b"\xff\xfe O\n")
    result = run_cli("bio_space", d, tmp_path / "out")
    assert result.exit_code == 1 and "example.dev line 2: not valid UTF-8" in result.output
    result = run_cli("nope", d, tmp_path / "out")
    assert result.exit_code == 1 and "unknown format 'nope'" in result.output
    result = run_cli("cluener", tmp_path / "missing", tmp_path / "out")
    assert result.exit_code == 1 and "input folder not found" in result.output
    result = run_cli("cluener", d, tmp_path / "out")
    assert result.exit_code == 1 and "no train/dev/test files" in result.output
    result = run_cli("bio_space", d, tmp_path / "out", "--ill-formed", "fix")
    assert result.exit_code == 1 and "--ill-formed" in result.output


def test_find_split_files(tmp_path):
    for name in ["msra_train_bio", "example.dev", "CMeEE-V2_test.json", "PROVENANCE.md", "cluener_predict.json"]:
        write(tmp_path / name, "x")
    found = corpora.find_split_files(tmp_path)
    assert {s: Path(p).name for s, (p, _) in found.items()} == {
        "train": "msra_train_bio",
        "dev": "example.dev",
        "test": "CMeEE-V2_test.json",
    }
    assert set(corpora.find_split_files(tmp_path, ".json")) == {"test"}
    write(tmp_path / "train.json", "x")
    with pytest.raises(corpora.CorpusFormatError, match="more than one train file"):
        corpora.find_split_files(tmp_path)


def test_make_splits():
    items = list(range(100))
    out, notes = corpora.make_splits({"train": items, "dev": [1], "test": [2]})
    assert out == {"train": items, "dev": [1], "test": [2]}
    out, _ = corpora.make_splits({"train": items, "test": [2]}, seed=3)
    assert len(out["dev"]) == 5 and sorted(out["train"] + out["dev"]) == items
    out2, _ = corpora.make_splits({"train": items, "test": [2]}, seed=3)
    assert out2 == out
    out, _ = corpora.make_splits({"dev": items})
    assert [len(out[s]) for s in corpora.SPLITS] == [80, 10, 10]
    assert sorted(out["train"] + out["dev"] + out["test"]) == items


def test_visualize_render(tmp_path):
    gold = NLP.make_doc("北京欢迎你")
    gold.spans["sc"] = [gold.char_span(0, 2, "LOC"), gold.char_span(0, 5, "X")]
    pred = NLP.make_doc("北京欢迎你")
    pred.spans["sc"] = [pred.char_span(0, 2, "LOC"), pred.char_span(2, 4, "Y")]
    empty = NLP.make_doc("无")
    page = visualize.render_pairs([(gold, pred), (empty, NLP.make_doc("无"))], "sc", title="t")
    assert "1 correct, 1 missed, 1 spurious" in page
    assert page.count("LOC") >= 2 and "<html" in page


# ---------------------------------------------------------------------------
# Pre-tokenised word corpora (WNUT 2017, DaN+)


def words_file(sentences):
    """sentences: lists of (word, tag, ...) tuples -> word<TAB>tag... lines."""
    return "".join("".join("\t".join(row) + "\n" for row in s) + "\n" for s in sentences)


WNUT = [
    [("@paulwalk", "O"), ("It", "O"), ("'s", "O"), ("in", "O"), ("New", "B-location"), ("York", "I-location")],
    [("#Obama", "B-person"), ("tweets", "O"), ("about", "O"), ("Star", "B-creative-work"), ("Wars", "I-creative-work")],
]


def test_conll_words_wnut(tmp_path):
    d = tmp_path / "wnut17"
    write(d / "wnut17train.conll", words_file(WNUT * 3))
    write(d / "emerging.dev.conll", words_file(WNUT[:1]))
    write(d / "emerging.test.annotated", words_file(WNUT[1:]))
    write(d / "PROVENANCE.md", "ignored")
    conv = convert.convert("wnut17", d, tmp_path / "out", progress=False)
    nlp = spacy.blank("en")
    train = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(nlp.vocab))
    assert [conv.splits[s].docs for s in corpora.SPLITS] == [6, 1, 1]
    doc = train[0]
    # The file's tokens are the words, joined by single spaces.
    assert [t.text for t in doc] == ["@paulwalk", "It", "'s", "in", "New", "York"]
    assert doc.text == "@paulwalk It 's in New York"
    assert spans_of(doc) == ents_of(doc) == [("New York", "location")]
    assert spans_of(train[1]) == [("#Obama", "person"), ("Star Wars", "creative-work")]
    # spaCy's English tokenizer splits "#Obama" into "#", "Obama", but never
    # inside a space-separated word's edges: every span aligns.
    assert sum(r.problems.get(corpora.TOKENIZER_MISALIGNED, 0) for r in conv.reports) == 0


def test_conll_words_nested_danplus(tmp_path):
    d = tmp_path / "danplus"
    sents = [
        [("SID-huset", "B-ORGpart", "O"), ("i", "O", "O"), ("Aarhus", "B-LOC", "O")],
        # MISC outside, ORGpart inside on the same token; and a nested LOC in an ORG
        [("UEFA-turneringen", "B-MISC", "B-ORGpart"), ("Aarhus", "B-ORG", "B-LOC"), ("Universitet", "I-ORG", "O")],
        # the same span in both columns: a duplicate, dropped once and reported
        [("Kjeld", "B-PER", "B-PER"), ("Christensen", "I-PER", "I-PER"), ("går", "O", "O")],
        # an I- without B- in the inner column: repaired and reported
        [("Jonathan", "O", "I-PER"), ("og", "O", "O")],
    ]
    write(d / "da_news_train.tsv", words_file(sents * 2))
    write(d / "da_news_dev.tsv", words_file(sents[:2]))
    write(d / "da_news_test.tsv", words_file(sents[2:]))
    conv = convert.convert("danplus", d, tmp_path / "out", progress=False)
    nlp = spacy.blank("da")
    train = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(nlp.vocab))
    assert spans_of(train[1]) == [
        ("UEFA-turneringen", "MISC"), ("UEFA-turneringen", "ORGpart"),
        ("Aarhus", "LOC"), ("Aarhus Universitet", "ORG"),
    ]
    assert len(train[1].ents) == 0  # nested format: doc.spans only
    assert spans_of(train[2]) == [("Kjeld Christensen", "PER")]
    assert spans_of(train[3]) == [("Jonathan", "PER")]
    rep = {r.split: r for r in conv.reports}
    assert rep["train"].problems[corpora.DUPLICATE] == 2
    assert rep["train"].problems[corpora.ILL_FORMED] == 2
    assert rep["train"].spans_read == 2 * 9 and rep["train"].spans_kept == 2 * 8


def test_conll_words_wrong_columns(tmp_path):
    d = tmp_path / "danplus"
    write(d / "da_news_train.tsv", "Aarhus\tB-LOC\n")  # one tag column, two expected
    with pytest.raises(corpora.CorpusFormatError, match=r"line 1: expected 'word<TAB>tag<TAB>tag'"):
        convert.convert("danplus", d, tmp_path / "out", progress=False)


def test_spans_the_tokenizer_cannot_produce_are_reported():
    """A tokenizer that merges two words (as one for another language or a
    custom one might): the span is kept and reported, not dropped."""
    from spacy.tokens import Doc

    class MergingNLP:
        lang = "xx"

        def __init__(self):
            self.vocab = spacy.blank("en").vocab

        def make_doc(self, text):
            return Doc(self.vocab, words=["New York", "City"], spaces=[True, False])

    rec = corpora.Record("New York City", [corpora.RawSpan(0, 3, "LOC"), corpora.RawSpan(0, 13, "LOC")],
                         "t line 1", words=["New", "York", "City"])
    report = corpora.FileReport(path="t", split="train")
    doc = corpora.build_doc(MergingNLP(), rec, report, "sc", nested=True)
    assert spans_of(doc) == [("New", "LOC"), ("New York City", "LOC")]
    assert report.problems == {corpora.TOKENIZER_MISALIGNED: 1}
    assert "'New'" in report.examples[corpora.TOKENIZER_MISALIGNED][0]
    assert "['New York']" in report.examples[corpora.TOKENIZER_MISALIGNED][0]


# ---------------------------------------------------------------------------
# LitBank (layered BIO, one file per document) and BTC (tweets, the source's split)


def layered_file(sentences, trailing_o=0):
    """sentences: lists of (word, L1, L2, ...) -> word<TAB>L1<TAB>...<TAB> lines,
    with LitBank's trailing tab (and `trailing_o` extra all-O columns)."""
    return "".join(
        "".join("\t".join(row + ("O",) * trailing_o) + "\t\n" for row in s) + "\n" for s in sentences
    )


LITBANK = [
    # L1 is the innermost layer: GPE inside PER inside a wider PER
    [("my", "O", "B-PER", "B-PER"), ("relatives", "O", "I-PER", "I-PER"), ("in", "O", "I-PER", "I-PER"),
     ("England", "B-GPE", "I-PER", "I-PER"), ("and", "O", "O", "I-PER"), ("Wales", "B-GPE", "O", "I-PER")],
    [("Lord", "B-PER", "B-PER", "O"), ("Chancellor", "O", "I-PER", "O"), ("Do", "O", "O", "O"), ("n't", "O", "O", "O")],
]


def test_litbank_layers_and_document_split(tmp_path):
    import random

    d = tmp_path / "litbank"
    stems = [f"{n}_novel_{n}_brat" for n in (12, 3, 45, 6, 78, 9, 101, 11, 130, 14)]
    for i, stem in enumerate(stems):
        # two files have a fifth tag column, always O (as 12 LitBank files do)
        write(d / "entities" / "tsv" / f"{stem}.tsv", layered_file(LITBANK, trailing_o=int(i < 2)))
    write(d / "entities" / "brat" / "ignored.ann", "T1\tGPE 0 1\tx\n")
    conv = convert.convert("litbank", d, tmp_path / "out", progress=False)
    # The split PROVENANCE.md proposes: sorted stems, Random(0).shuffle, 80/10/10.
    order = sorted(stems)
    random.Random(0).shuffle(order)
    assert conv.notes[1] == f"dev documents: {order[8]}"
    assert conv.notes[2] == f"test documents: {order[9]}"
    assert [conv.splits[s].docs for s in corpora.SPLITS] == [16, 2, 2]
    nlp = spacy.blank("en")
    dev = list(DocBin().from_disk(tmp_path / "out" / "dev.spacy").get_docs(nlp.vocab))
    # the union of the layers' spans, nested ones included; no doc.ents
    assert spans_of(dev[0]) == [
        ("my relatives in England", "PER"), ("my relatives in England and Wales", "PER"),
        ("England", "GPE"), ("Wales", "GPE"),
    ]
    assert len(dev[0].ents) == 0
    assert spans_of(dev[1]) == [("Lord", "PER"), ("Lord Chancellor", "PER")]
    assert [t.text for t in dev[1]] == ["Lord", "Chancellor", "Do", "n't"]
    rep = {r.split: r for r in conv.reports}
    assert rep["train"].spans_read == rep["train"].spans_kept == 8 * 6
    assert not any(r.problems for r in conv.reports)


def test_litbank_ragged_columns_are_an_error(tmp_path):
    d = tmp_path / "litbank" / "entities" / "tsv"
    write(d / "1_a_brat.tsv", "England\tB-GPE\tO\t\nand\tO\t\n")
    with pytest.raises(corpora.CorpusFormatError, match=r"1_a_brat.tsv line 2: expected 'word<TAB>tag<TAB>tag'"):
        corpora.read_column(str(d / "1_a_brat.tsv"), sep="\t", scheme="bio", words=True, tag_columns=None)


def btc_dir(tmp_path):
    d = tmp_path / "btc"
    tweets = [
        [("@BBCNews", "B-ORG"), ("in", "O"), ("New", "B-LOC"), ("York", "I-LOC"), ("😳 ", "O")],
        [("Theresa", "B-PER"), ("May", "I-PER"), ("", "O"), ("#MH17", "O")],
    ]
    sub = d / "train_dev_test_conll"
    write(sub / "btc.train", words_file(tweets * 2))
    write(sub / "btc.dev", words_file(tweets[:1]) + "\tO\n\n")  # a tweet of a blank word only
    # BTC's test file: one separator line made of spaces instead of an empty line
    test = words_file(tweets).replace("😳 \tO\n\n", "😳 \tO\n   \n")
    write(sub / "btc.test", test)
    write(d / "a.conll", words_file(tweets))  # the sections: not read
    return d


def test_btc_split_separator_and_blank_words(tmp_path):
    conv = convert.convert("btc", btc_dir(tmp_path), tmp_path / "out", progress=False)
    assert conv.notes == ["official train/dev/test used as they are"]
    assert [conv.splits[s].docs for s in corpora.SPLITS] == [4, 1, 2]
    nlp = spacy.blank("en")
    test = list(DocBin().from_disk(tmp_path / "out" / "test.spacy").get_docs(nlp.vocab))
    # the line of spaces separates the two tweets; the word's trailing space is
    # trimmed and the empty word left out, both reported
    assert [t.text for t in test[0]] == ["@BBCNews", "in", "New", "York", "😳"]
    assert [t.text for t in test[1]] == ["Theresa", "May", "#MH17"]
    assert spans_of(test[0]) == ents_of(test[0]) == [("@BBCNews", "ORG"), ("New York", "LOC")]
    assert spans_of(test[1]) == [("Theresa May", "PER")]
    rep = {r.split: r for r in conv.reports}
    assert rep["test"].problems == {corpora.TOKEN_WHITESPACE: 1, corpora.BLANK_TOKEN: 1}
    assert rep["dev"].problems == {corpora.TOKEN_WHITESPACE: 1, corpora.BLANK_TOKEN: 1, corpora.BLANK_SENTENCE: 1}
    assert "btc.dev line 7: no word left" in rep["dev"].examples[corpora.BLANK_SENTENCE][0]
    assert rep["train"].spans_read == rep["train"].spans_kept == 2 * 3


def test_btc_tagged_blank_word_is_an_error(tmp_path):
    d = tmp_path / "btc"
    write(d / "btc.train", "Theresa\tB-PER\n\tI-PER\n")
    with pytest.raises(corpora.CorpusFormatError, match=r"btc.train line 2: a word with whitespace \(''\) tagged I-PER"):
        convert.convert("btc", d, tmp_path / "out", progress=False)
