"""Write the texts of a .spacy file as JSON Lines, the input of batch annotation.

    python -m scripts.export_texts DATA.spacy OUTPUT.jsonl

Each line is {"id": "<file stem>-<n>", "text": ...}, n counting the docs from 0.
"""
from pathlib import Path

import spacy
import typer
from spacy.tokens import DocBin

from .common import write_jsonl


def main(
    data: Path = typer.Argument(..., help="A .spacy file (e.g. corpus/cluener/test.spacy)"),
    output: Path = typer.Argument(..., help="The JSON Lines file to write"),
) -> None:
    """Write the texts of DATA as JSON Lines with an id per text."""
    vocab = spacy.blank("xx").vocab
    docs = DocBin().from_disk(data).get_docs(vocab)
    write_jsonl(output, ({"id": f"{data.stem}-{i}", "text": doc.text} for i, doc in enumerate(docs)))


if __name__ == "__main__":
    typer.run(main)
