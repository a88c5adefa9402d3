"""Command-line tools of spacy-globalpointer: `python -m spacy_globalpointer --help`."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .annotate.__main__ import annotate_cli

app = typer.Typer(name="spacy_globalpointer", add_completion=False, no_args_is_help=True)


@app.callback()
def _commands() -> None:
    """Tools for pipelines with a `globalpointer_ner` component."""


@app.command("tune-thresholds")
def tune_thresholds_cli(
    model: str = typer.Argument(..., help="Trained pipeline: a directory or an installed package"),
    data: Path = typer.Argument(..., help="Dev data (.spacy) with gold, NOT the test split", exists=True),
    output: Path = typer.Argument(..., help="Where to save the pipeline with the tuned thresholds"),
    pipe: Optional[str] = typer.Option(None, "--pipe", "-p", help="Component name (default: the only globalpointer_ner)"),
    target: Optional[str] = typer.Option(
        None, "--target", "-t",
        help="Output to optimise: 'spans' (doc.spans F, setting `thresholds`) or 'ents' "
        "(doc.ents F, setting `ents_thresholds`). Default: 'ents' if the pipe annotates entities, else 'spans'",
    ),
    step: float = typer.Option(0.05, "--step", help="Grid step of the thresholds tried (from step to 1 - step)"),
    min_support: int = typer.Option(20, "--min-support", help="Labels with fewer gold spans keep the default threshold"),
    gold_preproc: bool = typer.Option(False, "--gold-preproc", "-G", help="Use gold preprocessing"),
) -> None:
    """Tune one threshold per entity type on a dev set, write them into the
    pipeline's settings (`thresholds` or `ents_thresholds`), save it to OUTPUT,
    and print the before/after scores per type."""
    import numpy

    from .errors import Errors
    from .ner.tuning import tune_thresholds

    if not 0.0 < step < 0.5:
        msg.fail(Errors.GP019.format(value=step), exits=1)
    grid = tuple(round(float(x), 4) for x in numpy.arange(step, 1.0 - step / 2, step))
    try:
        tuned, rows = tune_thresholds(
            model, data, output, pipe_name=pipe, target=target, grid=grid,
            min_support=min_support, gold_preproc=gold_preproc,
        )
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    header = ["type", "gold", "threshold", "P/R/F before", "P/R/F after"]
    msg.table(rows, header=header, divider=True)
    msg.good(f"Saved the pipeline with tuned thresholds to {output}")


# Batch annotation, also `python -m spacy_globalpointer.annotate` (imports
# neither Ray nor pyarrow until it runs).
app.command("annotate")(annotate_cli)


def main() -> None:
    """Entry point of the console script and of `python -m`."""
    app()


if __name__ == "__main__":
    main()
