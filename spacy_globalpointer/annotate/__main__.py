"""The command line of batch annotation:

    python -m spacy_globalpointer.annotate MODEL INPUT OUTPUT [OPTIONS]

Run `python -m spacy_globalpointer.annotate --help` for the options.
"""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import DEFAULT_SHARD_SIZE, SHARDS_PER_WORKER, AnnotateError, annotate


def annotate_cli(
    model: str = typer.Argument(..., metavar="MODEL", help="Trained pipeline: a folder (e.g. training/model-best) or an installed package name"),
    input_path: Path = typer.Argument(..., metavar="INPUT", help="A .jsonl/.json/.ndjson or .parquet file, or a folder of them"),
    output: Path = typer.Argument(..., metavar="OUTPUT", help="Output folder: one part-<shard>.parquet (or .jsonl) per shard"),
    engine: str = typer.Option("local", "--engine", "-e", help="local (this machine) or ray (a Ray cluster)"),
    text_column: str = typer.Option("text", "--text-column", help="Column (JSON field) with the text"),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Column with the row ids; without it a row's id is its position in the input, from 0"),
    format: str = typer.Option("parquet", "--format", "-f", help="Output format: parquet or jsonl"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Docs per nlp.pipe batch (default: the pipeline's nlp.batch_size)"),
    shard_size: Optional[int] = typer.Option(None, "--shard-size", help=f"Rows per shard: the unit of work, retry and output file (default: {DEFAULT_SHARD_SIZE}, fewer for a small input so that each worker gets about {SHARDS_PER_WORKER})"),
    n_process: int = typer.Option(1, "--n-process", "-n", help="local: worker processes"),
    num_workers: int = typer.Option(2, "--num-workers", "-w", help="ray: actors, one pipeline load each"),
    num_gpus: float = typer.Option(0.0, "--num-gpus", help="ray: GPUs per actor (0: run on CPU)"),
    address: Optional[str] = typer.Option(None, "--address", help="ray: cluster to join, e.g. auto or ray://head:10001 (default: start a local one)"),
    max_retries: int = typer.Option(3, "--max-retries", help="ray: restarts of a dead actor and retries of its shard"),
    docbin_dir: Optional[Path] = typer.Option(None, "--docbin-dir", help="Also write the annotated docs as DocBin files (part-<shard>.spacy) here"),
    pipe: Optional[str] = typer.Option(None, "--pipe", "-p", help="Component name (default: the only globalpointer_ner)"),
    code: Optional[Path] = typer.Option(None, "--code", help="Python file to import first (custom components)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the part files of an earlier run in OUTPUT"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="local: show a progress bar"),
) -> None:
    """Annotate a JSON Lines or Parquet input with a trained pipeline.

    The pipeline needs a globalpointer_ner component. One output row per input
    row (blank JSON Lines lines are not rows): its id, its position in the
    input (from 0), its spans (start_char, end_char, label, score, in_ents)
    and an error (null when the row was annotated)."""
    try:
        result = annotate(
            model, input_path, output, engine=engine, text_column=text_column,
            id_column=id_column, format=format, batch_size=batch_size,
            shard_size=shard_size, n_process=n_process, num_workers=num_workers,
            num_gpus=num_gpus, address=address, max_retries=max_retries,
            docbin_dir=docbin_dir, pipe_name=pipe, code=code,
            overwrite=overwrite, progress=progress,
        )
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    msg.good(
        f"{result.n_rows} rows ({result.n_errors} with an error, {result.n_spans} spans) "
        f"in {result.n_shards} shard(s) written to {result.output} in "
        f"{result.seconds:.1f}s ({result.docs_per_second:.0f} docs/s)"
    )


app = typer.Typer(add_completion=False)
app.command()(annotate_cli)

if __name__ == "__main__":
    app()
