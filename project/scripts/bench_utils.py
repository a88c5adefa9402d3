"""Helpers shared by the benchmark scripts: one thread per process, docs
re-made from their words (so tokenization is not timed), interleaved timing,
P/R/F from counts."""
import os
import statistics
import time
from typing import Callable, Dict, List, Sequence

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TORCH_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def one_thread() -> None:
    """Use one thread for BLAS and (if installed) torch in this process. Call
    it before numpy is imported for the BLAS part to take effect."""
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def fresh_docs(vocab, docs: Sequence) -> List:
    """Unannotated copies of `docs`, with the same words and spaces."""
    from spacy.tokens import Doc

    return [Doc(vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in docs]


def timed_pipe(nlp, docs: Sequence, batch_size: int, disable: Sequence[str] = ()) -> float:
    """Seconds `nlp.pipe` takes over fresh copies of `docs`."""
    fresh = fresh_docs(nlp.vocab, docs)
    with nlp.select_pipes(disable=list(disable)):
        start = time.perf_counter()
        for _ in nlp.pipe(fresh, batch_size=batch_size):
            pass
        return time.perf_counter() - start


def interleaved(measures: Dict[str, Callable[[], float]], rounds: int, log: bool = True) -> Dict[str, float]:
    """Run every measure once per round, round-robin, after one warm-up of
    each, and return the median of each: a load change on a shared machine
    then hits all of them alike."""
    for measure in measures.values():
        measure()
    times: Dict[str, List[float]] = {name: [] for name in measures}
    for r in range(rounds):
        for name, measure in measures.items():
            times[name].append(measure())
        if log:
            print(f"round {r + 1}/{rounds} done", flush=True)
    return {name: statistics.median(values) for name, values in times.items()}


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """Precision, recall, F and support (gold count) from match counts."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "support": tp + fn}
