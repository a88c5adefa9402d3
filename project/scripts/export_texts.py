"""Write the texts of a .spacy file as JSON Lines, the input of batch annotation.

    python scripts/export_texts.py DATA.spacy OUTPUT.jsonl

Each line is {"id": "<file stem>-<n>", "text": ...}, n counting the docs from 0.
"""
import json
from pathlib import Path

import spacy
import typer
from spacy.tokens import DocBin


def main(
    data: Path = typer.Argument(..., help="A .spacy file (e.g. corpus/cluener/test.spacy)"),
    output: Path = typer.Argument(..., help="The JSON Lines file to write"),
) -> None:
    """Write the texts of DATA as JSON Lines with an id per text."""
    vocab = spacy.blank("xx").vocab
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf8") as file:
        for i, doc in enumerate(DocBin().from_disk(data).get_docs(vocab)):
            file.write(json.dumps({"id": f"{data.stem}-{i}", "text": doc.text}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    typer.run(main)
