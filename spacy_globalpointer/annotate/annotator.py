"""Run a pipeline over the rows of one shard and write what it predicts.

`ShardAnnotator` is what every engine runs: in the calling process, in each
process of a local pool, or in each actor of a Ray pool. It loads the pipeline
once and then annotates one shard per call.
"""
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import import_file, minibatch

from ..errors import Errors
from ..ner.pipe import globalpointer_pipe_names
from .sinks import OutputRow, write_docbin, write_rows
from .sources import AnnotateError, InputRow, Shard, first_line, read_shard

FACTORY = "globalpointer_ner"


@dataclass(frozen=True)
class AnnotateTask:
    """What a worker needs to annotate shards; small and picklable.

    model (str): a pipeline folder or an installed pipeline package.
    pipe_name (str): the name of the `globalpointer_ner` component to report.
    text_column (str): the column that holds the text.
    id_column (Optional[str]): the column that holds the id; None for positions.
    id_type (str): the Arrow type of the output id column.
    batch_size (int): docs per `nlp.pipe` batch.
    output (str): the output folder.
    format (str): "parquet" or "jsonl".
    name_width (int): digits of the shard number in file names.
    docbin_dir (Optional[str]): a folder for DocBin files, or None.
    code (Optional[str]): a Python file to import before loading the model
        (custom components), or None.
    use_gpu (bool): run the pipeline on the GPU (Ray actors with `num_gpus`).
    """

    model: str
    pipe_name: str
    text_column: str
    id_column: Optional[str]
    id_type: str
    batch_size: int
    output: str
    format: str
    name_width: int
    docbin_dir: Optional[str] = None
    code: Optional[str] = None
    use_gpu: bool = False


@dataclass(frozen=True)
class ShardSummary:
    """What annotating one shard gave, as sent back to the driver.

    shard (int): the shard's number.
    n_rows (int): rows written (always the shard's row count).
    n_errors (int): rows with an error.
    n_spans (int): spans written.
    pid (int): the process that annotated it.
    peak_rss_mb (float): that process's peak resident memory so far, in MiB.
    seconds (float): time spent on the shard: reading, annotating, writing.
    load_seconds (float): time the process took to load the pipeline (0 if
        it was given one).
    """

    shard: int
    n_rows: int
    n_errors: int
    n_spans: int
    pid: int
    peak_rss_mb: float
    seconds: float
    load_seconds: float


def load_pipeline(model: str, code: Optional[str] = None) -> Language:
    """Load a pipeline, turning spaCy's loading errors into GP103.

    model (str): a pipeline folder or an installed pipeline package.
    code (Optional[str]): a Python file to import first (custom components).
    RETURNS (Language): the pipeline.
    """
    if code is not None:
        if not Path(code).is_file():
            raise AnnotateError(Errors.GP103.format(model=model, reason=f"no code file '{code}'"))
        import_file("annotate_code", code)
    try:
        return spacy.load(model)
    except (OSError, ValueError, KeyError, ImportError) as err:
        raise AnnotateError(Errors.GP103.format(model=model, reason=first_line(err))) from err


def find_pipe(nlp: Language, pipe_name: Optional[str], model: str) -> str:
    """The name of the `globalpointer_ner` component to report.

    nlp (Language): the pipeline.
    pipe_name (Optional[str]): the name asked for, or None when the pipeline
        has exactly one such component.
    model (str): the model, for error messages.
    RETURNS (str): the component's name.
    """
    ours = globalpointer_pipe_names(nlp)
    if pipe_name is not None:
        if pipe_name not in ours:
            reason = (
                f"it has no `{FACTORY}` component named '{pipe_name}' "
                f"(it has: {', '.join(ours) or 'none'})"
            )
            raise AnnotateError(Errors.GP103.format(model=model, reason=reason))
        return pipe_name
    if not ours:
        reason = f"it has no `{FACTORY}` component (its components: {', '.join(nlp.pipe_names)})"
        raise AnnotateError(Errors.GP103.format(model=model, reason=reason))
    if len(ours) > 1:
        raise AnnotateError(Errors.GP106.format(model=model, names=", ".join(ours)))
    return ours[0]


def span_records(doc: Doc, spans_key: str) -> List[Dict[str, Any]]:
    """The predicted spans of a doc as output records.

    doc (Doc): an annotated doc.
    spans_key (str): the key of `doc.spans` the component writes.
    RETURNS (List[Dict[str, Any]]): start_char, end_char, label, score and
        in_ents (whether the same span and label are in `doc.ents`) per span.
    """
    group = doc.spans.get(spans_key)
    if group is None:
        return []
    scores = group.attrs.get("scores")
    ents = {(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents}
    records = []
    for i, span in enumerate(group):
        key = (span.start_char, span.end_char, span.label_)
        records.append(
            {
                "start_char": span.start_char,
                "end_char": span.end_char,
                "label": span.label_,
                "score": float(scores[i]) if scores is not None else None,
                "in_ents": key in ents,
            }
        )
    return records


class ShardAnnotator:
    """Annotate shards with a pipeline loaded once.

    task (AnnotateTask): the settings.
    nlp (Optional[Language]): the loaded pipeline, if the caller has it
        already; else it is loaded from `task.model`.
    """

    def __init__(self, task: AnnotateTask, nlp: Optional[Language] = None) -> None:
        start = time.perf_counter()
        if task.use_gpu:
            spacy.require_gpu()
        self.task = task
        self.nlp = nlp if nlp is not None else load_pipeline(task.model, task.code)
        self.spans_key = self.nlp.get_pipe(task.pipe_name).key
        self.load_seconds = time.perf_counter() - start if nlp is None else 0.0

    def __call__(self, shard: Shard) -> ShardSummary:
        """Annotate one shard and write its output files.

        shard (Shard): the shard.
        RETURNS (ShardSummary): counts and the process's memory.
        """
        start = time.perf_counter()
        task = self.task
        rows: List[OutputRow] = []
        # A DocBin holds docs as compact arrays, so keeping a shard's is cheap.
        docbin = DocBin(store_user_data=True) if task.docbin_dir is not None else None
        inputs = read_shard(shard, task.text_column, task.id_column)
        for batch in minibatch(inputs, size=task.batch_size):
            for row, result in zip(batch, self._annotate(batch)):
                if isinstance(result, Doc):
                    records = span_records(result, self.spans_key)
                    rows.append(OutputRow(row.id, row.position, records, None))
                    if docbin is not None:
                        result.user_data["id"] = row.id
                        docbin.add(result)
                else:
                    rows.append(OutputRow(row.id, row.position, [], result))
        if len(rows) != shard.n_rows:
            raise RuntimeError(
                Errors.GP115.format(
                    index=shard.index, path=shard.path, got=len(rows), expected=shard.n_rows
                )
            )
        name = f"part-{shard.index:0{task.name_width}d}"
        write_rows(rows, Path(task.output) / name, task.format, task.id_type)
        if docbin is not None and task.docbin_dir is not None:
            write_docbin(docbin, Path(task.docbin_dir) / name)
        return ShardSummary(
            shard=shard.index,
            n_rows=len(rows),
            n_errors=sum(r.error is not None for r in rows),
            n_spans=sum(len(r.spans) for r in rows),
            pid=os.getpid(),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            seconds=time.perf_counter() - start,
            load_seconds=self.load_seconds,
        )

    def _annotate(self, batch: List[InputRow]) -> List[Union[Doc, str]]:
        """A doc per row, or the error text for a row that could not be read
        or made the pipeline raise. A batch that raises is redone row by row,
        so one bad text costs only its own row."""
        results: List[Union[Doc, str, None]] = [row.error for row in batch]
        todo = [i for i, row in enumerate(batch) if row.error is None]
        texts = [batch[i].text for i in todo]
        try:
            docs: List[Union[Doc, str]] = list(self.nlp.pipe(texts, batch_size=len(texts) or 1))
        except Exception:
            docs = [self._annotate_one(text) for text in texts]
        for i, doc in zip(todo, docs):
            results[i] = doc
        return results  # type: ignore[return-value]

    def _annotate_one(self, text: str) -> Union[Doc, str]:
        """The doc for one text, or the error it raised as one line."""
        try:
            return self.nlp(text)
        except Exception as err:
            return f"{type(err).__name__}: {first_line(err)}"
