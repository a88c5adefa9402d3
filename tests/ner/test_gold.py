"""Reading the gold of `globalpointer_ner` (`ner/gold.py`): misaligned,
damaged and too long gold spans are reported with coded warnings and errors."""
import re
import struct

import pytest
import spacy
import srsly
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example

PIPE = "globalpointer_ner"


def test_misaligned_gold_warns_with_code_and_doc():
    nlp = spacy.blank("en")
    nlp.add_pipe(PIPE)
    words, spaces = ["New", "York", "is", "big"], [False, True, True, False]
    ref = Doc(nlp.vocab, words=words, spaces=spaces)
    ref.spans["sc"] = [Span(ref, 0, 1, label="LOC"), Span(ref, 3, 4, label="ADJ")]
    eg = Example(nlp.make_doc(ref.text), ref)  # predicted: "NewYork" is one token
    with pytest.warns(UserWarning) as record:
        nlp.initialize(lambda: [eg])
    messages = [str(w.message) for w in record]
    misaligned = r"\[GPW001\].*1 gold span.*'New' \(LOC\) in doc 'NewYork is big'"
    assert any(re.search(misaligned, m) for m in messages)
    # The label stays (it is in the data), and the user is told it cannot be learned.
    assert set(nlp.get_pipe(PIPE).labels) == {"LOC", "ADJ"}
    assert any(re.search(r"\[GPW005\].*\['LOC'\].*cannot learn", m) for m in messages)
    nlp.update([eg])  # the misaligned span is skipped, not an error


def test_spacy_rejects_char_offsets_that_do_not_fit():
    # Such gold cannot even be built: spaCy raises before our pipe sees it.
    nlp = spacy.blank("en")
    for spans in ([(0, 5, "LOC")], [(0, 100, "LOC")], [(3, 3, "LOC")]):
        with pytest.raises(ValueError):
            Example.from_dict(nlp.make_doc("New York is big"), {"spans": {"sc": spans}})


def _doc_with_raw_spans(nlp, text, spans, label="LOC"):
    """A reference doc whose span group was read from bytes, as from a damaged
    DocBin: spaCy does not check the offsets when it deserializes."""
    ref = nlp.make_doc(text)
    lab = nlp.vocab.strings.add(label)
    msg = {
        "name": "sc",
        "attrs": {},
        "spans": [struct.pack(">QQQllll", 0, 0, lab, s, e, s, e) for s, e in spans],
    }
    ref.spans["sc"] = SpanGroup(ref).from_bytes(srsly.msgpack_dumps(msg))
    return Example(nlp.make_doc(text), ref)


@pytest.mark.parametrize(
    "spans,problem",
    [
        ([(0, 2), (2, 2)], "empty"),
        ([(0, 2), (3, 100)], "outside the doc"),
        ([(-1, 2)], "outside the doc"),
    ],
)
def test_empty_or_out_of_range_gold_raises_gp008(spans, problem):
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe(PIPE)
    eg = _doc_with_raw_spans(nlp, "北京是中国的首都", spans)
    with pytest.raises(ValueError, match=rf"\[GP008\].*doc '北京是中国的首都' is {problem}"):
        nlp.initialize(lambda: [eg])
    # and at update time, for an initialized pipe
    good = _doc_with_raw_spans(nlp, "北京是中国的首都", [(0, 2)])
    nlp.initialize(lambda: [good])
    with pytest.raises(ValueError, match=r"\[GP008\]"):
        nlp.update([eg])
    assert pipe.labels == ("LOC",)


def test_gold_longer_than_max_length_warns_gpw002():
    nlp = spacy.blank("zh")
    nlp.add_pipe(PIPE, config={"max_length": 2})
    eg = _doc_with_raw_spans(nlp, "阿里巴巴公司在杭州", [(0, 6), (7, 9)], label="ORG")
    match = r"\[GPW002\].*'阿里巴巴公司' \(ORG, 6 tokens\) in doc '阿里巴巴公司在杭州'"
    with pytest.warns(UserWarning, match=match):
        nlp.initialize(lambda: [eg])
