"""Training logger for the benchmark: prints spaCy's console table and also
writes one JSON line per evaluation with a high-resolution wall clock.

Registered as "spacy-globalpointer.bench.JsonlLogger.v1"; loaded with
`python -m spacy train ... --code scripts/bench_logger.py`.
"""
import json
import time
from pathlib import Path
from typing import Optional

import spacy


@spacy.registry.loggers("spacy-globalpointer.bench.JsonlLogger.v1")
def jsonl_logger(output_file: str, progress_bar: bool = False, console: bool = True):
    from spacy.training.loggers import console_logger

    console_setup = console_logger(progress_bar=progress_bar)

    def setup(nlp, stdout=None, stderr=None):
        log_step, finalize = console_setup(nlp, stdout, stderr) if console else (None, None)
        path = Path(output_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w", encoding="utf8")
        t0 = time.perf_counter()

        def log(info: Optional[dict]) -> None:
            if log_step is not None:
                log_step(info)
            if info is None:
                return
            rec = {
                "t": time.perf_counter() - t0,
                "epoch": info.get("epoch"),
                "step": info.get("step"),
                "words": info.get("words"),
                "seconds": info.get("seconds"),
                "score": info.get("score"),
                "losses": {k: float(v) for k, v in (info.get("losses") or {}).items()},
                "other_scores": {
                    k: v for k, v in (info.get("other_scores") or {}).items()
                    if isinstance(v, (int, float)) or v is None
                },
            }
            fh.write(json.dumps(rec) + "\n")
            fh.flush()

        def close() -> None:
            if finalize is not None:
                finalize()
            fh.close()

        return log, close

    return setup
