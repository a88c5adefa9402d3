"""Time and peak memory of globalpointer_ner on long documents.

    python -m scripts.benchmark_scale run [--sizes 1000,10000,100000] [--repeats 3]

Builds a pipeline from configs/globalpointer_tok2vec.cfg (tok2vec + globalpointer_ner,
the 10 CLUENER labels), trains it for a few steps on a few CLUENER sentences and
saves it. Then, for each size, it starts a FRESH Python process per run (so the
peak RSS, `resource.getrusage(...).ru_maxrss`, belongs to that size alone) that
loads the pipeline, makes one doc of N tokens (Chinese characters: CLUENER train
sentences concatenated, whitespace removed) and runs the pipeline on it. It
reports the median over the runs of the wall time of `nlp(doc)`, the peak RSS of
the process, and the peak minus the RSS just before `nlp(doc)` (the memory the
prediction itself needed), plus the largest/smaller-size ratios.

It does the same for ONE training update (`nlp.update`) on one long doc with
gold spans and a fixed `max_length`, to show that training has no n^2 term.

Targets: time and memory grow linearly (100k tokens no more than ~12x the 10k
figures) and 100k tokens stay under 2 GB peak RSS.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from .common import PROJECT, ROOT, md_table, peak_rss_mib, script_cmd, set_thread_env

DEFAULT_CONFIG = ROOT / "configs" / "globalpointer_tok2vec.cfg"
DEFAULT_DATA = Path("/work/shared/data/cluener/train.json")
PIPE = "globalpointer_ner"

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _current_rss_mb() -> float:
    """The resident set size now (Linux); the peak so far elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024
    except OSError:
        return peak_rss_mib()


def _vm_hwm_mb() -> float:
    """Peak RSS of this process image from /proc (Linux), a cross-check of ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _records(data: Path) -> List[Tuple[str, List[Tuple[int, int, str]]]]:
    """(text, [(start_char, end_char_exclusive, label)]) of the CLUENER
    sentences without whitespace (so that every character is one token)."""
    from . import corpora

    out = []
    for rec in corpora.read_cluener(str(data)):
        if not rec.text or any(c.isspace() for c in rec.text):
            continue
        n = len(rec.text)
        spans = [(s.start, s.end, s.label) for s in rec.spans if 0 <= s.start < s.end <= n]
        out.append((rec.text, spans))
    return out


def _long_text(records, n_chars: int) -> Tuple[str, List[Tuple[int, int, str]]]:
    """Concatenate sentences (cycling if needed) up to exactly n_chars chars,
    with their gold spans shifted; spans cut by the end are dropped."""
    parts, spans, size, i = [], [], 0, 0
    while size < n_chars:
        text, sp = records[i % len(records)]
        spans.extend((size + s, size + e, lab) for s, e, lab in sp)
        parts.append(text)
        size += len(text)
        i += 1
    text = "".join(parts)[:n_chars]
    return text, [s for s in spans if s[1] <= n_chars]


def _build_pipeline(config_path: Path, data: Path, out_dir: Path, n_docs: int, steps: int,
                    max_length: Optional[int]) -> Dict[str, object]:
    from spacy.training import Example
    from spacy.util import fix_random_seed, load_config, load_model_from_config

    config = load_config(config_path)
    config["components"][PIPE]["max_length"] = max_length
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    records = _records(data)
    # A few tiny training docs, chosen so that all 10 labels occur.
    chosen, labels = [], set()
    for text, spans in records:
        if len(chosen) >= n_docs and len(labels) >= 10:
            break
        if spans and (len(chosen) < n_docs or {s[2] for s in spans} - labels):
            chosen.append((text, spans))
            labels.update(s[2] for s in spans)
    examples = []
    for text, spans in chosen:
        doc = nlp.make_doc(text)
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [ref.char_span(s, e, label=lab) for s, e, lab in spans]
        examples.append(Example(doc, ref))
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, drop=0.1)
    nlp.to_disk(out_dir)
    pipe = nlp.get_pipe(PIPE)
    return {"labels": len(pipe.labels), "max_length": pipe.max_length, "train_docs": len(examples)}


def _child(args: List[str], threads: int) -> Dict[str, float]:
    env = set_thread_env(threads, force=True, env=dict(os.environ))
    proc = subprocess.run(script_cmd("benchmark_scale", *args), capture_output=True, text=True, env=env, cwd=PROJECT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_runs(args: List[str], repeats: int, threads: int) -> Dict[str, float]:
    runs = [_child(args, threads) for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _fmt_table(title: str, rows: List[Tuple[int, Dict[str, float]]]) -> List[str]:
    parts = [k for k in rows[0][1] if k.startswith("cpu_")] if rows else []
    parts.sort(key=lambda k: k != "cpu_s")
    head = ["wall time (s)"] + [
        "CPU time (s)" if k == "cpu_s" else f"CPU {k[4:-2]} (s)" for k in parts
    ]
    table = [(f"{n:,}", *(f"{r[k]:.2f}" for k in ["time_s", *parts]), f"{r['peak_rss_mb']:.0f}",
              f"{r['delta_rss_mb']:.0f}") for n, r in rows]
    if len(rows) >= 2:
        (n0, a), (n1, b) = rows[-2], rows[-1]
        table.append((f"{_k(n1)} / {_k(n0)}", *(f"{b[k] / a[k]:.1f}x" for k in ["time_s", *parts]),
                      f"{b['peak_rss_mb'] / a['peak_rss_mb']:.1f}x",
                      f"{b['delta_rss_mb'] / max(a['delta_rss_mb'], 1):.1f}x"))
    header = [title, *head, "peak RSS (MB)", "RSS added by the call (MB)"]
    return md_table(table, header, "r" * len(header)).split("\n")


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


@app.command()
def run(
    sizes: str = typer.Option("1000,10000,100000", help="Doc lengths (tokens) for prediction"),
    train_sizes: str = typer.Option("1000,10000,30000", help="Doc lengths for one training update"),
    repeats: int = typer.Option(3, help="Fresh processes per size; the median is reported"),
    max_length: Optional[int] = typer.Option(
        None, help="Pipe max_length for prediction (default: null, learned at initialize)"
    ),
    train_max_length: int = typer.Option(32, help="Pipe max_length for the training update"),
    config: Path = typer.Option(DEFAULT_CONFIG, help="Training config"),
    data: Path = typer.Option(DEFAULT_DATA, help="CLUENER train.json (text source)"),
    train_docs: int = typer.Option(20, help="Tiny training docs for the pipeline"),
    train_steps: int = typer.Option(10, help="Training steps before saving the pipeline"),
    threads: int = typer.Option(1, help="BLAS/OpenMP threads of the measured processes"),
    markdown: Optional[Path] = typer.Option(None, help="Also write the Markdown snippet here"),
) -> None:
    """Build a small pipeline and measure prediction/training at several doc lengths."""
    pred_sizes = [int(s) for s in sizes.split(",") if s]
    upd_sizes = [int(s) for s in train_sizes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "pipeline"
        # Built in a child too: Linux carries the peak RSS of the parent over
        # into ru_maxrss of a child it starts, so the parent must stay small.
        build_args = ["build", str(model_dir), str(config), str(data),
                      str(train_docs), str(train_steps)]
        if max_length is not None:
            build_args += ["--max-length", str(max_length)]
        info = _child(build_args, threads)
        typer.echo(f"pipeline: {info}", err=True)
        pred_rows, train_rows = [], []
        for n in pred_sizes:
            args = ["measure", "predict", str(model_dir), str(data), str(n)]
            r = _median_runs(args, repeats, threads)
            typer.echo(f"predict {n}: {r}", err=True)
            pred_rows.append((n, r))
        for n in upd_sizes:
            args = ["measure", "update", str(model_dir), str(data), str(n),
                    "--max-length", str(train_max_length)]
            r = _median_runs(args, repeats, threads)
            typer.echo(f"update {n}: {r}", err=True)
            train_rows.append((n, r))
    argv = " ".join(sys.argv[1:])
    lines = [
        f"Command: `python -m scripts.benchmark_scale {argv}`",
        "",
        f"Pipeline: configs/globalpointer_tok2vec.cfg (tok2vec width 96, depth 4; "
        f"GlobalPointer head_size 64, {info['labels']} labels, max_length "
        f"{info['max_length']}), one doc of N Chinese characters, CPU, "
        f"{threads} BLAS thread(s), median of {repeats} fresh processes. CPU time is "
        f"`time.process_time()` (less sensitive than wall time to other load on the machine); "
        f"peak RSS is `ru_maxrss` of the process; RSS added = peak minus the RSS just "
        f"before the call.",
        "",
        "Prediction (`nlp(doc)`):",
        "",
        *_fmt_table("tokens", pred_rows),
        "",
        f"One training update (`nlp.update`, max_length {train_max_length}):",
        "",
        *_fmt_table("tokens", train_rows),
    ]
    text = "\n".join(lines)
    print(text)
    if markdown is not None:
        markdown.write_text(text + "\n", encoding="utf8")


@app.command(hidden=True)
def build(
    out_dir: Path = typer.Argument(...),
    config: Path = typer.Argument(...),
    data: Path = typer.Argument(...),
    n_docs: int = typer.Argument(...),
    steps: int = typer.Argument(...),
    max_length: Optional[int] = typer.Option(None),
) -> None:
    """(Internal) Build and save the pipeline; prints a JSON line."""
    print(json.dumps(_build_pipeline(config, data, out_dir, n_docs, steps, max_length)))


@app.command(hidden=True)
def measure(
    mode: str = typer.Argument(..., help="predict or update"),
    model_dir: Path = typer.Argument(...),
    data: Path = typer.Argument(...),
    n_tokens: int = typer.Argument(...),
    max_length: Optional[int] = typer.Option(None),
) -> None:
    """(Internal) One measurement in this fresh process; prints a JSON line."""
    import spacy
    from spacy.training import Example

    import spacy_globalpointer  # noqa: F401

    nlp = spacy.load(model_dir)
    text, spans = _long_text(_records(data), n_tokens)
    doc = nlp.make_doc(text)
    assert len(doc) == n_tokens, (len(doc), n_tokens)
    if mode == "predict":
        base = _current_rss_mb()
        parts = {}
        start, cpu_start = time.perf_counter(), time.process_time()
        for name, proc in nlp.pipeline:  # what nlp(doc) does, timed per component
            t = time.process_time()
            doc = proc(doc)
            parts[f"cpu_{name}_s"] = time.process_time() - t
            parts[f"peak_after_{name}_mb"] = peak_rss_mib()
        elapsed = time.perf_counter() - start
        parts["cpu_s"] = time.process_time() - cpu_start
        n_out = len(doc.spans["sc"])
    elif mode == "update":
        pipe = nlp.get_pipe(PIPE)
        pipe.cfg["max_length"] = max_length
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [ref.char_span(s, e, label=lab) for s, e, lab in spans]
        eg = Example(doc, ref)
        optimizer = nlp.resume_training()
        base = _current_rss_mb()
        start, cpu_start = time.perf_counter(), time.process_time()
        nlp.update([eg], sgd=optimizer)
        elapsed = time.perf_counter() - start
        n_out = len(spans)
        parts = {"cpu_s": time.process_time() - cpu_start}
    else:
        raise typer.BadParameter(f"mode must be predict or update, got {mode!r}")
    peak = peak_rss_mib()
    print(json.dumps({
        "time_s": elapsed, "peak_rss_mb": peak, "delta_rss_mb": peak - base, "spans": n_out,
        "vm_hwm_mb": _vm_hwm_mb(), **parts,
    }))


if __name__ == "__main__":
    app()
