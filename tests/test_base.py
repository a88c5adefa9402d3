"""`GlobalPointerPipe` (`base.py`), the shared base of `globalpointer_ner` and
`globalpointer_extractor`."""
import spacy

from spacy_globalpointer import GlobalPointerExtractor, GlobalPointerNER
from spacy_globalpointer.base import GlobalPointerPipe


def test_extractor_and_ner_are_siblings():
    """Both pipes extend GlobalPointerPipe; the extractor has none of the NER
    pipe's methods, whose cfg keys it lacks."""
    assert issubclass(GlobalPointerExtractor, GlobalPointerPipe)
    assert issubclass(GlobalPointerNER, GlobalPointerPipe)
    assert not issubclass(GlobalPointerExtractor, GlobalPointerNER)
    for name in ("_gold_place", "_fit_score_weights", "threshold_table", "_set_ents", "_span_rows"):
        assert hasattr(GlobalPointerNER, name) and not hasattr(GlobalPointerExtractor, name)
    nlp = spacy.blank("zh")
    pipe = nlp.add_pipe("globalpointer_extractor")
    assert set(pipe.cfg) == {"labels", "spans_key", "context_key", "separator", "threshold",
                             "max_length", "learned_max_length"}
