"""Throughput and memory of batch annotation (spacy_globalpointer.annotate).

    python -m scripts.benchmark_annotate --data-dir ../../shared/data/cluener

Trains the CPU config (configs/globalpointer_tok2vec.cfg) for a few hundred
steps on CLUENER (or takes `--model`), writes N CLUENER texts (train then dev,
repeated to N) as JSON Lines, starts one local Ray cluster with 2 CPUs, and
times, round after round (interleaved, because the machine is shared):

- `nlp.pipe`: spacy.load + reading the texts + nlp.pipe over them (1 process);
- `nlp.pipe, 2 processes`: the same with n_process=2;
- `local`: annotate(engine="local") to Parquet, in this process;
- `local, 2 processes`: the same with n_process=2;
- `ray, 1 worker` / `ray, 2 workers`: annotate(engine="ray") with an actor
  pool of that size (the cluster is up before; actor start and model loading
  are timed).

Every time is a whole call, model loading included; the table shows the median
over the rounds (after one untimed warm-up; each round starts with the next
variant). Then the peak RSS per worker process (fresh processes: local pool
workers, Ray actors) is measured with M and 10M docs. Load averages before
and after are recorded. Writes benchmarks/annotate.json and
benchmarks/ANNOTATE.md. One BLAS/OpenMP thread per process.
"""
from .common import PROJECT, ROOT, md_table, read_jsonl, script_cmd, set_thread_env, versions, write_json, write_jsonl

set_thread_env(force=True)  # before numpy is imported

import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

import typer  # noqa: E402

CONFIG = ROOT / "configs" / "globalpointer_tok2vec.cfg"


def main(
    data_dir: Path = typer.Option(PROJECT / "assets" / "cluener", "--data-dir", help="CLUENER folder (train.json, dev.json)"),
    model: Optional[Path] = typer.Option(None, "--model", help="A trained pipeline; default: train the CPU config for --steps steps"),
    n_docs: int = typer.Option(10000, "--n-docs", help="Docs per timed run"),
    memory_docs: int = typer.Option(5000, "--memory-docs", help="M: peak RSS per worker is measured with M and 10M docs"),
    rounds: int = typer.Option(3, "--rounds", help="Interleaved rounds of timed runs"),
    steps: int = typer.Option(300, "--steps", help="Training steps when no --model is given"),
    shard_size: int = typer.Option(1000, "--shard-size", help="Rows per shard"),
    work_dir: Path = typer.Option(PROJECT / "benchmarks" / "runs" / "annotate", "--work-dir", help="Scratch folder (model, inputs, outputs)"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir", help="Where annotate.json and ANNOTATE.md go"),
) -> None:
    """Time plain nlp.pipe, the local engine and the Ray engine side by side."""
    from spacy_globalpointer.annotate import annotate

    work_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    model = model or train_model(data_dir, work_dir, steps)
    texts = read_texts(data_dir)
    timed = write_input(work_dir / "in.jsonl", texts, n_docs)
    sizes = {m: write_input(work_dir / f"in_{m}.jsonl", texts, m) for m in (memory_docs, 10 * memory_docs)}

    def engine(name: str, **settings) -> Callable[[Path], dict]:
        def run_engine(source: Path) -> dict:
            result = annotate(
                model, source, work_dir / "out" / name.replace(" ", "_").replace(",", ""),
                shard_size=shard_size, overwrite=True, progress=False, **settings,
            )
            return {"seconds": result.seconds, "workers": [asdict(w) for w in result.workers.values()]}

        return run_engine

    variants: Dict[str, Callable[[Path], dict]] = {
        "nlp.pipe": lambda source: plain_pipe(model, source, 1),
        "nlp.pipe, 2 processes": lambda source: plain_pipe(model, source, 2),
        "local": engine("local"),
        "local, 2 processes": engine("local 2", n_process=2),
        "ray, 1 worker": engine("ray 1", engine="ray", num_workers=1),
        "ray, 2 workers": engine("ray 2", engine="ray", num_workers=2),
    }
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        plain_pipe(model, sizes[memory_docs], 1)  # warm up: imports, first load
        runs: Dict[str, List[dict]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(rounds):
            # Each round starts with another variant, so none always goes first.
            for name in names[i % len(names):] + names[: i % len(names)]:
                runs[name].append(variants[name](timed))
                print(f"round {i + 1}/{rounds} {name}: {n_docs / runs[name][-1]['seconds']:.0f} docs/s", flush=True)
        memory = {
            name: {str(m): [w["peak_rss_mb"] for w in variants[name](source)["workers"]] for m, source in sizes.items()}
            for name in ("local, 2 processes", "ray, 2 workers")
        }
    finally:
        ray.shutdown()
    report = {
        "n_docs": n_docs,
        "rounds": rounds,
        "shard_size": shard_size,
        "model": str(model),
        "mean_chars_per_doc": round(sum(map(len, texts)) / len(texts), 1),
        "memory_docs": memory_docs,
        "runs": runs,
        "docs_per_s": {name: n_docs / statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()},
        "model_load_s": time_model_load(model),
        "peak_rss_mb_per_worker": memory,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions(("spacy", "thinc", "ray", "pyarrow", "spacy-globalpointer"), python=False),
        "command": " ".join(["python", "-m", "scripts.benchmark_annotate"] + sys.argv[1:]),
    }
    write_json(out_dir / "annotate.json", report, newline=True)
    markdown = render(report)
    (out_dir / "ANNOTATE.md").write_text(markdown, encoding="utf8")
    print(markdown)


def train_model(data_dir: Path, work_dir: Path, steps: int) -> Path:
    """Convert CLUENER and train the CPU config briefly. RETURNS (Path): model-best."""
    corpus, output = work_dir / "corpus", work_dir / "training"
    run(script_cmd("convert", "cluener", str(data_dir), str(corpus)))
    run(
        [
            sys.executable, "-m", "spacy", "train", str(CONFIG), "--output", str(output),
            "--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"),
            "--vars.annotate_ents", "true", "--training.max_steps", str(steps),
            "--training.eval_frequency", str(steps), "--system.seed", "0",
        ]
    )
    return output / "model-best"


def run(command: List[str]) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=PROJECT)


def read_texts(data_dir: Path) -> List[str]:
    """The CLUENER texts, train then dev."""
    texts = []
    for name in ("train.json", "dev.json"):
        texts.extend(row["text"] for row in read_jsonl(data_dir / name))
    return texts


def write_input(path: Path, texts: List[str], n: int) -> Path:
    """n rows of the texts, repeated in order, as JSON Lines."""
    write_jsonl(path, ({"text": texts[i % len(texts)]} for i in range(n)))
    return path


def plain_pipe(model: Path, source: Path, n_process: int) -> dict:
    """What a user would write without the engines: load, read, nlp.pipe."""
    import spacy

    start = time.perf_counter()
    nlp = spacy.load(model)
    texts = [row["text"] for row in read_jsonl(source)]
    for _ in nlp.pipe(texts, n_process=n_process):
        pass
    return {"seconds": time.perf_counter() - start, "workers": []}


def time_model_load(model: Path) -> float:
    """Seconds to start a Python process that imports spaCy and loads the model,
    minus one that only imports spaCy: the model's own load time."""
    def seconds(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    base = statistics.median(seconds("import spacy, spacy_globalpointer") for _ in range(3))
    load = statistics.median(seconds(f"import spacy; spacy.load({str(model)!r})") for _ in range(3))
    return round(load - base, 2)


def render(report: dict) -> str:
    """The report as Markdown: throughput, ratios, where the time goes, memory."""
    rate = report["docs_per_s"]
    n = report["n_docs"]
    lines = [
        "# Batch annotation benchmark",
        "",
        f"`cd project && {report['command']}`",
        "",
        f"{n} CLUENER texts ({report['mean_chars_per_doc']} characters on average), "
        f"shards of {report['shard_size']} rows, median of {report['rounds']} interleaved rounds. "
        "Every time is a whole call: starting worker processes or actors, loading the model "
        f"({report['model_load_s']} s in a fresh process), reading, annotating, writing Parquet. "
        f"{report['cpus']} CPUs, one thread per process; load average (1/5/15 min) "
        f"{fmt_load(report['loadavg_before'])} before, {fmt_load(report['loadavg_after'])} after.",
        "",
        md_table([(name, f"{rate[name]:,.0f}", ", ".join(f"{r['seconds']:.1f}" for r in runs))
                  for name, runs in report["runs"].items()], ["run", "docs/s", "seconds per round"], "lrl"),
    ]
    ratios = [
        ("ray, 2 workers / ray, 1 worker", "ray, 2 workers", "ray, 1 worker", ">= 1.7"),
        ("local / nlp.pipe", "local", "nlp.pipe", ">= 0.9"),
        ("ray, 1 worker / local", "ray, 1 worker", "local", ">= 0.75"),
        ("ray, 2 workers / local, 2 processes", "ray, 2 workers", "local, 2 processes", ">= 0.75"),
        ("local, 2 processes / nlp.pipe, 2 processes", "local, 2 processes", "nlp.pipe, 2 processes", ""),
    ]
    lines += ["", md_table([(label, f"{rate[a] / rate[b]:.2f}", target) for label, a, b, target in ratios],
                           ["ratio of docs/s", "value", "target"], "lrl")]
    lines += [
        "",
        "Where the time of the engines goes (medians over the rounds; per worker, the "
        "slowest one): loading the model in the worker, annotating its shards (reading, "
        "`nlp.pipe`, writing), and the rest of the wall time (starting processes or "
        "actors and importing spaCy in them, scheduling, waiting for the last shard). "
        "Docs/s while busy = docs / the busiest worker's annotating time.",
        "",
    ]
    table = []
    for name, runs in report["runs"].items():
        if not runs[0]["workers"]:
            continue
        wall = statistics.median(r["seconds"] for r in runs)
        load = statistics.median(max(w["load_seconds"] for w in r["workers"]) for r in runs)
        busy = statistics.median(max(w["busy_seconds"] for w in r["workers"]) for r in runs)
        table.append((name, f"{wall:.1f}", f"{load:.1f}", f"{busy:.1f}", f"{wall - load - busy:.1f}", f"{n / busy:,.0f}"))
    lines.append(md_table(table, ["run", "wall s", "load s", "annotating s", "rest s", "docs/s while busy"], "lrrrrr"))
    m = report["memory_docs"]
    lines += [
        "",
        f"Peak RSS per worker process (MiB; fresh processes) with {m} and {10 * m} docs:",
        "",
        md_table([(name, *(", ".join(f"{v:.0f}" for v in sorted(values)) for values in sizes.values()))
                  for name, sizes in report["peak_rss_mb_per_worker"].items()],
                 ["run", f"{m} docs", f"{10 * m} docs"], "lll"),
    ]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def fmt_load(load) -> str:
    return "/".join(f"{value:.1f}" for value in load)


if __name__ == "__main__":
    typer.run(main)
