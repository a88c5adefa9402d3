"""Batch annotation: run a trained pipeline with a `globalpointer_ner`
component over a large JSON Lines or Parquet input and write its spans.

One function, `annotate`, with two engines behind it: "local" (this machine,
one or more processes) and "ray" (a Ray Data actor pool, on a cluster or a
local one). Importing this module imports neither Ray nor pyarrow; the
command line is `python -m spacy_globalpointer.annotate --help` (also
`python -m spacy_globalpointer annotate`).
"""
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

from ..errors import Errors
from .annotator import AnnotateTask, ShardSummary, find_pipe, load_pipeline, span_records
from .engines import ENGINES, LOCAL, RAY, run_local, run_ray
from .sinks import SUFFIX, output_schema, prepare_folder, remove_leftovers
from .sources import AnnotateError, InputPlan, plan_input

__all__ = [
    "AnnotateError", "AnnotateResult", "WorkerStats", "annotate", "output_schema", "span_records"
]

DEFAULT_SHARD_SIZE = 5000
# Without a shard size, a small input is cut finer, so that every worker gets
# about this many shards (and none waits while another finishes a big one).
SHARDS_PER_WORKER = 4


@dataclass(frozen=True)
class WorkerStats:
    """What one worker process (this process, a local worker, a Ray actor) did.

    n_shards (int): shards it annotated.
    busy_seconds (float): time it spent on them.
    load_seconds (float): time it took to load the pipeline.
    peak_rss_mb (float): its peak resident memory, in MiB.
    """

    n_shards: int
    busy_seconds: float
    load_seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class AnnotateResult:
    """What a batch annotation run did.

    output (Path): the output folder.
    n_rows (int): rows read and written (one output row per input row).
    n_errors (int): rows written with an error instead of spans.
    n_spans (int): spans written.
    n_shards (int): shards (output files).
    seconds (float): wall time of the whole run: checking the input, loading
        the pipeline (once here, and once per worker), annotating, writing.
    workers (Dict[int, WorkerStats]): what each process that annotated
        shards did, by process id.
    """

    output: Path
    n_rows: int
    n_errors: int
    n_spans: int
    n_shards: int
    seconds: float
    workers: Dict[int, WorkerStats]

    @property
    def docs_per_second(self) -> float:
        """RETURNS (float): rows annotated per second of wall time."""
        return self.n_rows / self.seconds if self.seconds > 0 else 0.0


def annotate(
    model: Union[str, Path],
    input_path: Union[str, Path],
    output: Union[str, Path],
    *,
    engine: str = LOCAL,
    text_column: str = "text",
    id_column: Optional[str] = None,
    format: str = "parquet",
    batch_size: Optional[int] = None,
    shard_size: Optional[int] = None,
    n_process: int = 1,
    num_workers: int = 2,
    num_gpus: float = 0.0,
    address: Optional[str] = None,
    max_retries: int = 3,
    docbin_dir: Optional[Union[str, Path]] = None,
    pipe_name: Optional[str] = None,
    code: Optional[Union[str, Path]] = None,
    overwrite: bool = False,
    progress: bool = True,
) -> AnnotateResult:
    """Annotate every row of a JSON Lines or Parquet input with a pipeline and
    write one output row per input row: its id, its position in the input,
    its spans and an error. Blank JSON Lines lines are not rows.

    model (Union[str, Path]): a trained pipeline's folder or an installed
        pipeline package, with a `globalpointer_ner` component.
    input_path (Union[str, Path]): a .jsonl/.json/.ndjson or .parquet file,
        or a folder of such files (one format, read in name order).
    output (Union[str, Path]): the output folder; it gets one
        `part-<shard>.parquet` (or `.jsonl`) file per shard.
    engine (str): "local" or "ray".
    text_column (str): the column (JSON field) with the text.
    id_column (Optional[str]): the column with each row's id; None uses the
        row's position in the input (0, 1, ...), the same for every engine.
    format (str): "parquet" or "jsonl".
    batch_size (Optional[int]): docs per `nlp.pipe` batch; None uses the
        pipeline's `nlp.batch_size`.
    shard_size (Optional[int]): rows per shard: the unit of work, retry and
        output file. None: DEFAULT_SHARD_SIZE, or fewer for a small input so
        that each worker gets about SHARDS_PER_WORKER shards.
    n_process (int): local engine: worker processes (1: this process).
    num_workers (int): Ray engine: actors, each loading the pipeline once.
    num_gpus (float): Ray engine: GPUs per actor (0: CPU).
    address (Optional[str]): Ray engine: the cluster to join, e.g. "auto";
        None starts a local cluster (or uses the one already connected).
    max_retries (int): Ray engine: restarts of a dead actor and retries of its
        shard before the run fails.
    docbin_dir (Optional[Union[str, Path]]): also write the annotated docs as
        one DocBin per shard (`part-<shard>.spacy`) to this folder.
    pipe_name (Optional[str]): the `globalpointer_ner` component whose spans
        are written; needed only when the pipeline has several.
    code (Optional[Union[str, Path]]): a Python file to import before loading
        the pipeline (custom components), like spaCy's `--code`.
    overwrite (bool): replace the part files of an earlier run in `output`
        (and `docbin_dir`) instead of stopping.
    progress (bool): local engine: show a progress bar.
    RETURNS (AnnotateResult): counts, time and memory of the run.
    """
    start = time.perf_counter()
    _check_settings(engine, format, batch_size, shard_size, n_process, num_workers, max_retries)
    _require_pyarrow()
    # Workers (Ray actors on other nodes) get absolute paths.
    model = str(Path(model).resolve()) if Path(model).exists() else str(model)
    code = str(Path(code).resolve()) if code is not None else None
    output = Path(output).resolve()
    docbin_dir = Path(docbin_dir).resolve() if docbin_dir is not None else None
    workers = n_process if engine == LOCAL else num_workers
    plan = _plan(Path(input_path).resolve(), text_column, id_column, shard_size, workers)
    nlp = load_pipeline(model, code)
    task = AnnotateTask(
        model=model,
        pipe_name=find_pipe(nlp, pipe_name, model),
        text_column=text_column,
        id_column=id_column,
        id_type=plan.id_type,
        batch_size=batch_size or nlp.batch_size,
        output=str(output),
        format=format,
        name_width=max(5, len(str(len(plan.shards)))),
        docbin_dir=str(docbin_dir) if docbin_dir is not None else None,
        code=code,
        use_gpu=engine == RAY and num_gpus > 0,
    )
    prepare_folder(output, overwrite)
    if docbin_dir is not None:
        prepare_folder(docbin_dir, overwrite)
    if engine == LOCAL:
        # With worker processes the pipeline loaded here was only a check.
        nlp = nlp if n_process == 1 else None
        summaries = run_local(plan.shards, task, n_process=n_process, nlp=nlp, progress=progress)
    else:
        del nlp
        summaries = run_ray(
            plan.shards, task, num_workers=num_workers, num_gpus=num_gpus,
            address=address, max_retries=max_retries,
        )
    seconds = time.perf_counter() - start
    for folder in (output, docbin_dir):
        if folder is not None:
            remove_leftovers(folder)
    return _result(output, plan.shards, summaries, seconds)


def _check_settings(
    engine: str,
    format: str,
    batch_size: Optional[int],
    shard_size: Optional[int],
    n_process: int,
    num_workers: int,
    max_retries: int,
) -> None:
    """Raise GP107 or GP104 for a setting that cannot work."""
    for name, value, choices in (("engine", engine, ENGINES), ("format", format, tuple(SUFFIX))):
        if value not in choices:
            message = Errors.GP107.format(name=name, value=value, choices=", ".join(choices))
            raise AnnotateError(message)
    positive = {"n_process": n_process, "num_workers": num_workers}
    for name, optional in (("batch_size", batch_size), ("shard_size", shard_size)):
        if optional is not None:
            positive[name] = optional
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AnnotateError(Errors.GP104.format(name=name, value=value))
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise AnnotateError(Errors.GP104.format(name="max_retries", value=max_retries))


def _plan(
    path: Path, text_column: str, id_column: Optional[str], shard_size: Optional[int], workers: int
) -> InputPlan:
    """Cut the input into shards of `shard_size` rows; without a size, into
    shards of DEFAULT_SHARD_SIZE rows or, for a small input, into about
    SHARDS_PER_WORKER shards per worker."""
    plan = plan_input(path, text_column, id_column, shard_size or DEFAULT_SHARD_SIZE)
    wanted = SHARDS_PER_WORKER * workers
    if shard_size is None and workers > 1 and len(plan.shards) < wanted < plan.n_rows:
        plan = plan_input(path, text_column, id_column, -(-plan.n_rows // wanted))
    return plan


def _require_pyarrow() -> None:
    """Raise GP109 if pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise AnnotateError(Errors.GP109.format(reason=str(err))) from err


def _result(
    output: Path, shards: list, summaries: List[ShardSummary], seconds: float
) -> AnnotateResult:
    """Check that every shard was written once and add up the summaries."""
    done = Counter(s.shard for s in summaries)
    missing = [shard.index for shard in shards if shard.index not in done]
    if missing or len(done) != len(summaries):
        twice = [i for i, n in done.items() if n > 1]
        message = Errors.GP114.format(missing=missing[:10], twice=twice[:10], output=output)
        raise RuntimeError(message)
    by_worker: Dict[int, List[ShardSummary]] = {}
    for summary in summaries:
        by_worker.setdefault(summary.pid, []).append(summary)
    workers = {
        pid: WorkerStats(
            n_shards=len(done_by),
            busy_seconds=sum(s.seconds for s in done_by),
            load_seconds=max(s.load_seconds for s in done_by),
            peak_rss_mb=max(s.peak_rss_mb for s in done_by),
        )
        for pid, done_by in by_worker.items()
    }
    return AnnotateResult(
        output=output,
        n_rows=sum(s.n_rows for s in summaries),
        n_errors=sum(s.n_errors for s in summaries),
        n_spans=sum(s.n_spans for s in summaries),
        n_shards=len(summaries),
        seconds=seconds,
        workers=workers,
    )
