"""Test components for batch annotation, imported by the workers of a run with
`code=` (like spaCy's `--code`): one raises on a marked text, one kills its
process the first time it sees a marked text."""
import os
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

FAIL_MARK = "炸"


@Language.component("annotate_test_fail")
def fail_on_mark(doc: Doc) -> Doc:
    """Raise on a text that contains FAIL_MARK."""
    if FAIL_MARK in doc.text:
        raise ValueError(f"cannot annotate a text with {FAIL_MARK}")
    return doc


@Language.factory("annotate_test_die", default_config={"marker": "", "trigger": ""})
def make_die_once(nlp: Language, name: str, marker: str, trigger: str):
    """Kill the process (as the OOM killer would) when a doc's text equals
    `trigger`: only the first time, which the file `marker` records, or every
    time if `marker` is empty."""

    def die_once(doc: Doc) -> Doc:
        if doc.text == trigger and not (marker and Path(marker).exists()):
            if marker:
                Path(marker).write_text(str(os.getpid()), encoding="utf8")
            os._exit(1)
        return doc

    return die_once
