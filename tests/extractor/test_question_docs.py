"""The question docs of `globalpointer_extractor` (`extractor/question_docs.py`):
question, separator and context in one doc, and finding the context again."""
import pytest
import spacy

from spacy_globalpointer import context_bounds, make_question_doc

KEY = "answer"


def test_question_doc_zh_per_character():
    nlp = spacy.blank("zh")
    doc = make_question_doc(nlp, "谁发明了电话？", "贝尔发明了电话。", answers={"ANSWER": (0, 2)})
    assert doc.text == "谁发明了电话？ [SEP] 贝尔发明了电话。"
    assert [t.text for t in doc[:7]] == list("谁发明了电话？")
    assert doc.spans["context"][0].text == "贝尔发明了电话。"
    assert [(s.text, s.label_) for s in doc.spans[KEY]] == [("贝尔", "ANSWER")]
    start, end = context_bounds(doc)
    assert doc[start:end].text == "贝尔发明了电话。"
    # Only the text survives a corpus reader: the separator finds the context.
    assert context_bounds(nlp(doc.text)) == (start, end)


def test_question_doc_other_tokenizer_and_errors():
    nlp = spacy.blank("en")
    doc = make_question_doc(nlp, "Who invented it?", "Bell invented the phone.", answers={"WHO": (0, 4)})
    assert [t.text for t in doc.spans["context"][0]] == ["Bell", "invented", "the", "phone", "."]
    assert doc.spans[KEY][0].text == "Bell"
    with pytest.raises(ValueError, match="GP024"):
        make_question_doc(nlp, "Who?", "Bell invented it.", answers={"WHO": (0, 3)})
    with pytest.raises(ValueError, match="GP024"):
        make_question_doc(nlp, "Who?", "Bell", answers={"WHO": (2, 9)})
    with pytest.raises(ValueError, match="GP023"):
        make_question_doc(nlp, "Who [SEP] is it?", "Bell")
    custom = make_question_doc(nlp, "Who?", "Bell", separator="||", context_key="ctx")
    assert context_bounds(custom, "ctx", "||") == (3, 4)
    assert context_bounds(nlp(custom.text), "ctx", "||") == (3, 4)


def test_context_bounds_fallbacks_and_errors():
    nlp = spacy.blank("zh")
    assert context_bounds(nlp("没有分隔符")) == (0, 5)  # the whole doc
    assert context_bounds(nlp("问题 [SEP]")) == (7, 7)  # nothing after it
    assert context_bounds(nlp("问题 [SEP] 答"), separator=None) == (0, 8)
    doc = nlp("甲乙丙丁")
    doc.spans["context"] = []
    assert context_bounds(doc) == (0, 0)
    doc.spans["context"] = [doc[0:1], doc[2:4]]
    with pytest.raises(ValueError, match="GP021"):
        context_bounds(doc)
