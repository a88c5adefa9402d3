"""Fixtures for the README's Python blocks.

`tests/test_readme.py` runs every ```python block of README.md with
pytest-markdown-docs, loading this module as a plugin:

    python -m pytest --markdown-docs -p tests.readme_fixtures README.md

A block names the fixtures it needs in its fence's info string,
```python fixture:get_examples, and gets each as a global of that name.
GitHub shows such a block as plain Python (the first word is the language).
"""
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
from thinc.api import fix_random_seed

from .conftest import NESTED_DATA, make_examples


@pytest.fixture(autouse=True)
def _seed():
    """Every block starts from the same random state."""
    fix_random_seed(0)


@pytest.fixture
def get_examples():
    """The `get_examples` of the "Use" block: tiny nested Chinese examples
    (北京大学 ORG around 北京 LOC, ...), gold in `reference.spans["sc"]`."""
    examples = make_examples(spacy.blank("zh"), NESTED_DATA)
    return lambda: examples


@pytest.fixture
def annotate_workdir(tmp_path, monkeypatch):
    """The working folder of the annotation block, made the current folder:
    `model-best` (a pipeline with `globalpointer_ner`, trained for a few
    steps) and `texts.parquet` (columns `doc_id` and `body`)."""
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    examples = make_examples(nlp, NESTED_DATA)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(tmp_path / "model-best")
    texts = [text for text, _ in NESTED_DATA]
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(texts))], "body": texts})
    pq.write_table(table, tmp_path / "texts.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path
