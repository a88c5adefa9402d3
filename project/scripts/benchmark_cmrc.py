"""Loss comparison for `globalpointer_extractor` on CMRC 2018.

Every variant (a training loss) is trained with the same config
(configs/globalpointer_extractor_tok2vec.cfg: tok2vec, batches, optimizer,
steps, no early stopping) for each seed, one run at a time, as subprocesses
with OMP/BLAS threads = 1. Then each run's model-best (best dev answer F1) is
evaluated with `spacy evaluate` on the held-out test split and on trial
(official CMRC 2018 F1/EM against all answers of a question).

    python -m scripts.benchmark_cmrc run --corpus-dir corpus/cmrc2018 --steps 800 --seeds 0,1,2
    python -m scripts.benchmark_cmrc analyse --corpus-dir corpus/cmrc2018
    python -m scripts.benchmark_cmrc report

`run` saves benchmarks/cmrc.json after every run and skips runs already in
it with the same settings, so an interrupted benchmark resumes; `analyse`
adds, per run, how long the predicted test answers are and how often they
overlap or match the gold span; `report` writes benchmarks/CMRC.md.
"""
from __future__ import annotations

import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import List

import typer

from .common import (PROJECT, ROOT, fmt_mean_sd, git, machine, md_table, read_json, rel, run_measured, shown_cmd, versions,
                     write_json)

CONFIG = ROOT / "configs" / "globalpointer_extractor_tok2vec.cfg"
COMPONENT = "globalpointer_extractor"
LOSS = f"--components.{COMPONENT}.loss"
VARIANTS = {
    "multilabel": {
        "label": "multi-label CE (top-1 span)",
        "overrides": ["--vars.loss", "spacy-globalpointer.MultiLabelAnswerLoss.v1"],
    },
    "softmax": {
        "label": "softmax CE",
        "overrides": ["--vars.loss", "spacy-globalpointer.SpanSoftmaxLoss.v1"],
    },
    "ef1_0.01": {
        "label": "expected F1, lambda 0.01",
        "overrides": ["--vars.loss", "spacy-globalpointer.ExpectedF1Loss.v1", f"{LOSS}.entropy_weight", "0.01"],
    },
    "ef1_0.1": {
        "label": "expected F1, lambda 0.1",
        "overrides": ["--vars.loss", "spacy-globalpointer.ExpectedF1Loss.v1", f"{LOSS}.entropy_weight", "0.1"],
    },
    # Not the write-up's loss: softmax CE plus expected F1 (lambda 0), to see
    # whether the F1 term helps once the CE term keeps the gold span's
    # gradient alive.
    "ce_ef1": {
        "label": "softmax CE + expected F1 (lambda 0)",
        "overrides": ["--vars.loss", "spacy-globalpointer.ExpectedF1Loss.v1", f"{LOSS}.entropy_weight", "0.0",
                      f"{LOSS}.crossentropy_weight", "1.0"],
    },
}
TEST_SETS = ("test", "trial")
RESULTS = PROJECT / "benchmarks" / "cmrc.json"
REPORT = PROJECT / "benchmarks" / "CMRC.md"
RUNS = PROJECT / "benchmarks" / "runs" / "cmrc"

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _call(cmd: List[str], log: Path) -> dict:
    """Run cmd (cwd project/, 1 thread), output to log; RETURNS wall seconds
    and peak RSS (common.run_measured); raises if it fails."""
    measured = run_measured(cmd, log)
    if measured["rc"] != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed (rc {measured['rc']}); see {log}")
    return measured


def train_command(corpus: Path, out: Path, variant: str, seed: int, settings: dict) -> List[str]:
    return [
        sys.executable, "-m", "spacy", "train", rel(CONFIG), "--output", rel(out),
        "--paths.train", rel(corpus / "train.spacy"), "--paths.dev", rel(corpus / "dev.spacy"),
        "--system.seed", str(seed), "--training.max_steps", str(settings["steps"]),
        "--training.eval_frequency", str(settings["eval_frequency"]), "--training.patience", "0",
        "--training.batcher.size", str(settings["batch_words"]),
        *VARIANTS[variant]["overrides"],
    ]


def run_one(corpus: Path, variant: str, seed: int, settings: dict) -> dict:
    """Train one (variant, seed) and evaluate its model-best on every test set."""
    out = RUNS / variant / f"seed{seed}"
    cmd = train_command(corpus, out, variant, seed, settings)
    measured = _call(cmd, out / "train.log")
    best = out / "model-best"
    meta = read_json(best / "meta.json")
    entry = {"train_wall_s": round(measured["wall_s"], 1),
             "train_peak_rss_mib": round(measured["peak_rss_mib"]),
             "command": shown_cmd(cmd),
             "dev": {k: meta["performance"].get(k) for k in ("answer_f1", "answer_em")}}
    for name in TEST_SETS:
        metrics = out / f"{name}.json"
        _call([sys.executable, "-m", "spacy", "evaluate", rel(best), rel(corpus / f"{name}.spacy"),
               "--output", rel(metrics)], out / f"evaluate_{name}.log")
        scores = read_json(metrics)
        entry[name] = {"answer_f1": scores["answer_f1"], "answer_em": scores["answer_em"]}
    return entry


@app.command()
def run(
    corpus_dir: Path = typer.Option(Path("corpus/cmrc2018"), help="Output of convert_cmrc.py"),
    steps: int = typer.Option(1000, help="Training steps of every run"),
    eval_frequency: int = typer.Option(200, help="Steps between dev evaluations (model-best)"),
    batch_words: int = typer.Option(2000, help="Words per batch (spacy.batch_by_words)"),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds"),
    variants: str = typer.Option(",".join(VARIANTS), help="Comma-separated variants"),
) -> None:
    """Train and evaluate every (variant, seed), one at a time."""
    corpus = (PROJECT / corpus_dir).resolve()
    settings = {"steps": steps, "eval_frequency": eval_frequency, "batch_words": batch_words}
    result = read_json(RESULTS, default={})
    if result.get("settings") != settings:
        result = {"settings": settings, "runs": {}}
    result.update({"config": rel(CONFIG), "corpus": rel(corpus), "versions": versions(),
                   "machine": machine(), "git": git()})
    # Seed by seed, so that an interrupted benchmark has every variant for
    # the seeds it finished.
    for seed in (int(s) for s in seeds.split(",")):
        for variant in variants.split(","):
            runs = result["runs"].setdefault(variant, {})
            if str(seed) in runs:
                typer.echo(f"{variant} seed {seed}: done, skipped")
                continue
            typer.echo(f"{variant} seed {seed}: training")
            runs[str(seed)] = run_one(corpus, variant, seed, settings)
            write_json(RESULTS, result)
            typer.echo(f"  {json.dumps(runs[str(seed)]['test'])}")


@app.command()
def analyse(
    corpus_dir: Path = typer.Option(Path("corpus/cmrc2018"), help="Output of convert_cmrc.py"),
) -> None:
    """Length of the predicted test answers against the gold spans, per run."""
    import spacy
    from spacy.tokens import DocBin

    corpus = (PROJECT / corpus_dir).resolve()
    result = read_json(RESULTS)
    for variant, runs in result["runs"].items():
        for seed, entry in runs.items():
            nlp = spacy.load(RUNS / variant / f"seed{seed}" / "model-best")
            gold = list(DocBin().from_disk(corpus / "test.spacy").get_docs(nlp.vocab))
            predicted = nlp.pipe(doc.text for doc in gold)
            pairs = [(list(p.spans["answer"]), list(g.spans["answer"])) for p, g in zip(predicted, gold)]
            pairs = [(p[0], g[0]) for p, g in pairs if p and g]
            entry["test_answers"] = {
                "n": len(pairs),
                "predicted_chars": statistics.mean(len(p.text) for p, _ in pairs),
                "gold_chars": statistics.mean(len(g.text) for _, g in pairs),
                "overlap": statistics.mean(p.start < g.end and g.start < p.end for p, g in pairs),
                "exact": statistics.mean((p.start, p.end) == (g.start, g.end) for p, g in pairs),
            }
            typer.echo(f"{variant} seed {seed}: {entry['test_answers']}")
    write_json(RESULTS, result)


def _summary(values: List[float]) -> str:
    """Mean, std and range of fractions, as percentages."""
    return fmt_mean_sd([100 * v for v in values], range_sep="–")


@app.command()
def report() -> None:
    """Write benchmarks/CMRC.md from benchmarks/cmrc.json."""
    result = read_json(RESULTS)
    s = result["settings"]
    lines = [
        "# CMRC 2018: the losses of `globalpointer_extractor` compared", "",
        "Generated by `python -m scripts.benchmark_cmrc report` from `benchmarks/cmrc.json` "
        "(per-run figures and commands are there).", "",
        "## Setup", "",
        f"- Config `{result['config']}`; every run: {s['steps']} steps, batches of {s['batch_words']} "
        f"words, dev evaluation every {s['eval_frequency']} steps, `--training.patience 0`; the "
        "reported model is each run's model-best (best dev answer F1). Only the loss differs.",
        f"- Data `{result['corpus']}` (`scripts/convert_cmrc.py`, seed 0): CMRC 2018 dev split by "
        "article 80/10/10 into train/dev/test; trial is a second test set with longer answers.",
        "- Scores: official CMRC 2018 F1 and EM against all answers of a question, in %, "
        "mean ± std over seeds (min–max).",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}; machine: "
        f"{result['machine']['cpu']}, {result['machine']['cpu_count']} cores shared with other jobs, "
        "1 thread per process, one run at a time.", "",
    ]
    table = []
    for variant, runs in result["runs"].items():
        entries = [runs[k] for k in sorted(runs, key=int)]
        cells = [_summary([e["dev"]["answer_f1"] for e in entries])]
        for name in TEST_SETS:
            for metric in ("answer_f1", "answer_em"):
                cells.append(_summary([e[name][metric] for e in entries]))
        wall = statistics.mean(e["train_wall_s"] for e in entries)
        label = VARIANTS.get(variant, {}).get("label", variant)
        table.append((f"{label} (`{variant}`)", ",".join(sorted(runs, key=int)), *cells, f"{wall:.0f}"))
    lines += [
        md_table(table, ["loss", "seeds", "dev F1", "test F1", "test EM", "trial F1", "trial EM", "train s/run"],
                 "lrrrrrrr"),
        "", "Predicted test answers against the gold span (`analyse`; mean over seeds): "
        "length in characters, share overlapping the gold span, share exactly on it.", "",
    ]
    table = []
    for variant, runs in result["runs"].items():
        stats = [e["test_answers"] for e in runs.values() if "test_answers" in e]
        if not stats:
            continue
        mean = {k: statistics.mean(st[k] for st in stats) for k in stats[0]}
        table.append((f"`{variant}`", f"{mean['predicted_chars']:.1f}", f"{mean['gold_chars']:.1f}",
                      f"{100 * mean['overlap']:.1f}", f"{100 * mean['exact']:.1f}"))
    lines.append(md_table(table, ["loss", "predicted chars", "gold chars", "overlap %", "exact %"], "lrrrr"))
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf8")
    typer.echo(f"Wrote {REPORT}")


if __name__ == "__main__":
    app()
