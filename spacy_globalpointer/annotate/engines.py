"""The engines that run `ShardAnnotator` over the shards of an input.

- `run_local`: in this process (`n_process = 1`) or in a pool of local worker
  processes, with a progress bar.
- `run_ray`: in a pool of Ray actors through Ray Data, on an existing cluster
  or a local one started for the run.

Both return one `ShardSummary` per shard; the shards write their own output.
Ray is imported only inside `run_ray`.
"""
import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Dict, Iterable, List, Optional

from spacy.language import Language
from tqdm import tqdm

from ..errors import Errors
from .annotator import AnnotateTask, ShardAnnotator, ShardSummary
from .sources import AnnotateError, Shard, first_line

LOCAL = "local"
RAY = "ray"
ENGINES = (LOCAL, RAY)


def run_local(
    shards: List[Shard],
    task: AnnotateTask,
    *,
    n_process: int = 1,
    nlp: Optional[Language] = None,
    progress: bool = True,
) -> List[ShardSummary]:
    """Annotate the shards on this machine.

    shards (List[Shard]): the shards.
    task (AnnotateTask): the settings.
    n_process (int): 1 runs in this process; more starts that many worker
        processes, each of which loads the pipeline once.
    nlp (Optional[Language]): the loaded pipeline, reused when n_process is 1.
    progress (bool): show a progress bar (docs done).
    RETURNS (List[ShardSummary]): one summary per shard.
    """
    bar = tqdm(total=sum(s.n_rows for s in shards), unit="doc", disable=not progress)
    with bar:
        try:
            if n_process == 1:
                annotator = ShardAnnotator(task, nlp)
                return [_advance(bar, _run_shard(annotator, shard)) for shard in shards]
            return [_advance(bar, summary) for summary in _run_pool(shards, task, n_process)]
        except ShardFailed as err:
            raise AnnotateError(
                Errors.GP110.format(engine=LOCAL, reason=str(err), output=task.output)
            ) from err


def _run_pool(shards: List[Shard], task: AnnotateTask, n_process: int) -> Iterable[ShardSummary]:
    """Annotate shards in a pool of fresh ("spawn") processes; yield each
    summary as its shard is done."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        n_process, mp_context=context, initializer=_start_worker, initargs=(task,)
    ) as pool:
        futures = [pool.submit(_annotate_in_worker, shard) for shard in shards]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool as err:
            reason = "a worker process died (out of memory, or killed)"
            message = Errors.GP110.format(engine=LOCAL, reason=reason, output=task.output)
            raise AnnotateError(message) from err
        finally:
            for future in futures:
                future.cancel()


# The annotator of a local worker process, made once by `_start_worker`.
_WORKER: Optional[ShardAnnotator] = None


def _start_worker(task: AnnotateTask) -> None:
    """Load the pipeline in a local worker process."""
    global _WORKER
    _WORKER = ShardAnnotator(task)


def _annotate_in_worker(shard: Shard) -> ShardSummary:
    """Annotate one shard in a local worker process."""
    assert _WORKER is not None, "the worker was not started"
    return _run_shard(_WORKER, shard)


def _advance(bar: tqdm, summary: ShardSummary) -> ShardSummary:
    bar.update(summary.n_rows)
    return summary


def _run_shard(annotator: ShardAnnotator, shard: Shard) -> ShardSummary:
    """Annotate a shard; a failure that is not one row's (e.g. the file
    became unreadable) names the shard."""
    try:
        return annotator(shard)
    except Exception as err:
        last = shard.first_row + shard.n_rows - 1
        raise ShardFailed(
            f"shard {shard.index} ({shard.path}, rows {shard.first_row}-{last}) failed: "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err


class ShardFailed(RuntimeError):
    """A shard could not be annotated at all (not a row error)."""


class RayShardWorker:
    """The callable class of the Ray actor pool: loads the pipeline once per
    actor, then annotates one shard per batch.

    task (AnnotateTask): the settings.
    """

    def __init__(self, task: AnnotateTask) -> None:
        self.annotator = ShardAnnotator(task)

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, list]:
        """Annotate the shards of a batch (a dict of columns, one row per shard).

        batch (Dict[str, Any]): the shards' fields (see `Shard.to_dict`).
        RETURNS (Dict[str, list]): the summaries' fields, one row per shard.
        """
        fields = list(Shard.__dataclass_fields__)
        rows = zip(*(batch[field].tolist() for field in fields))
        summaries = [_run_shard(self.annotator, Shard(*row)) for row in rows]
        return {
            field: [getattr(s, field) for s in summaries]
            for field in ShardSummary.__dataclass_fields__
        }


def run_ray(
    shards: List[Shard],
    task: AnnotateTask,
    *,
    num_workers: int = 2,
    num_gpus: float = 0.0,
    address: Optional[str] = None,
    max_retries: int = 3,
) -> List[ShardSummary]:
    """Annotate the shards in a pool of Ray actors.

    shards (List[Shard]): the shards.
    task (AnnotateTask): the settings (`use_gpu` is set from `num_gpus`).
    num_workers (int): actors in the pool; each loads the pipeline once and
        reserves one CPU.
    num_gpus (float): GPUs reserved per actor; above 0 the pipeline runs on
        the GPU.
    address (Optional[str]): the cluster to join ("auto", "ray://host:10001",
        "host:6379"); None joins the cluster Ray is already connected to, or
        starts a local one for this run.
    max_retries (int): how often a dead actor is restarted and its shard
        retried before the run fails.
    RETURNS (List[ShardSummary]): one summary per shard.
    """
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise AnnotateError(Errors.GP108.format(reason=str(err))) from err
    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, address)
    try:
        if not shards:
            return []
        items = [shard.to_dict() for shard in shards]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        # Ray 2.60 has no named parameter for actor fault tolerance: its docs
        # still pass `max_restarts`/`max_task_retries` as remote args, which
        # warn that they are deprecated (removal in 2.64, hence the pin).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            summaries = dataset.map_batches(
                RayShardWorker,
                fn_constructor_kwargs={"task": task},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=num_workers),
                num_cpus=1,
                num_gpus=num_gpus or None,
                max_restarts=max_retries,
                max_task_retries=max_retries,
            )
        try:
            rows = summaries.take_all()
        except Exception as err:  # Ray wraps the worker's error in its own
            raise AnnotateError(
                Errors.GP110.format(engine=RAY, reason=_ray_reason(err), output=task.output)
            ) from err
        return [ShardSummary(**row) for row in rows]
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, address: Optional[str]) -> None:
    """Join the cluster at `address`, or start a local one; raise GP113 if
    the cluster cannot be reached."""
    try:
        ray.init(address=address, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise AnnotateError(Errors.GP113.format(address=address, reason=first_line(err))) from err


def _ray_reason(err: Exception) -> str:
    """The line of a Ray error that says what failed: ours names the shard."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in reversed(lines):
        if "ShardFailed" in line or " failed: " in line:
            return line[:500]
    return (lines[-1] if lines else type(err).__name__)[:500]
