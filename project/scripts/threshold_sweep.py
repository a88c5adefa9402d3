"""One threshold for all types, swept on dev: what the default should be, and
what a tuned threshold gives each span component.

    python -m scripts.threshold_sweep cluener wnut17 cmeee danplus [--seeds 0,1,2]

For each corpus, seed and variant (default: GlobalPointer and spaCy's
spancat, the two components with a threshold), the benchmark's model
(benchmarks/runs/<corpus>/<variant>_s<seed>/model-best) is run once over the
dev and the test split with its threshold at the bottom of the grid; then, for
every grid value, the component's own `set_annotations` writes the output
with that threshold and it is scored like the benchmark's `evaluate` (exact
spans in characters; `doc.ents` for GlobalPointer on flat corpora,
`doc.spans["sc"]` otherwise). Reported:

- mean dev F per grid value and corpus (the table the default threshold of
  `globalpointer_ner` was chosen from: the value with the best mean over the
  corpora);
- test F at the model's own threshold and at the threshold that was best on
  that model's dev split, for each component, so that a tuned GlobalPointer is
  compared with a tuned spancat too.

Writes benchmarks/threshold.json and benchmarks/THRESHOLD.md (rows of
corpora and variants from earlier calls are kept); `--regime` and `--tag` take
the runs of `benchmark run --regime/--tag` and name the files after them.
"""
import statistics
from pathlib import Path
from typing import Dict, List

import typer

from .benchmark import CORPORA, VARIANTS, regime_tag
from .common import (PROJECT, SPANS_KEY, fmt_mean_sd, fresh_docs, md_table, one_thread, read_json, rel, score_spans,
                     seeds_phrase, span_tuples, write_json)
from spacy_globalpointer.ner.tuning import DEFAULT_GRID

# The grid the dev-set callback chooses from (0.05-0.95): with MiniLM on LitBank
# it chose 0.65-0.7, and an oracle column has to see above that
GRID = tuple(float(t) for t in DEFAULT_GRID)


def _threshold(value) -> float:
    """A threshold as a grid value: srsly reads a saved 0.7 as 0.7000000000000001,
    which would be a sweep row (and a report row "0.7") of its own."""
    return round(float(value), 6)


def _output(doc, ents: bool):
    return doc.ents if ents else doc.spans.get(SPANS_KEY, [])


def sweep_split(nlp, pipe_name: str, gold_docs: List, ents: bool, grid) -> Dict[float, dict]:
    """P/R/F of the pipe's output on `gold_docs` for every threshold in grid.

    The pipeline runs once up to the pipe; the pipe predicts once with the
    lowest threshold, then writes its output once per grid value.
    """
    pipe = nlp.get_pipe(pipe_name)
    docs = fresh_docs(nlp.vocab, gold_docs)
    later = nlp.pipe_names[nlp.pipe_names.index(pipe_name):]
    with nlp.select_pipes(disable=later):
        docs = list(nlp.pipe(docs, batch_size=nlp.batch_size))
    saved = dict(pipe.cfg)
    want = [span_tuples(ref.spans.get(SPANS_KEY, [])) for ref in gold_docs]
    results = {}
    try:
        # doc.ents follow `threshold` during the sweep (a saved `ents_threshold` would hold them fixed)
        pipe.cfg["ents_threshold"] = None
        pipe.cfg["threshold"] = min(grid)
        batches = []
        for start in range(0, len(docs), nlp.batch_size):
            batch = docs[start:start + nlp.batch_size]
            batches.append((batch, pipe.predict(batch)))
        for t in grid:
            pipe.cfg["threshold"] = t
            for batch, predicted in batches:
                for doc in batch:
                    doc.ents = []
                pipe.set_annotations(batch, predicted)
            results[t] = score_spans((span_tuples(_output(doc, ents)), gold) for doc, gold in zip(docs, want))
    finally:
        pipe.cfg.clear()
        pipe.cfg.update(saved)
    return results


def sweep_model(model: Path, corpus_dir: Path, component: str, flat: bool, grid) -> dict:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.load(model)
    name = next(n for n, p in nlp.pipeline if nlp.get_pipe_meta(n).factory == component)
    cfg = nlp.get_pipe(name).cfg
    ents = flat and component == "globalpointer_ner"
    # the threshold of the output scored: doc.ents have their own when `ents_threshold` is set
    own = _threshold(cfg["ents_threshold"] if ents and cfg.get("ents_threshold") is not None else cfg["threshold"])
    grid = tuple(sorted(set(grid) | {own}))
    out = {"model": rel(model), "own_threshold": own, "scored": "doc.ents" if ents else f"doc.spans['{SPANS_KEY}']"}
    for split in ("dev", "test"):
        gold = list(DocBin().from_disk(corpus_dir / f"{split}.spacy").get_docs(nlp.vocab))
        out[split] = {str(t): v for t, v in sweep_split(nlp, name, gold, ents, grid).items()}
    best = max(grid, key=lambda t: (out["dev"][str(t)]["f"], -abs(t - own)))
    out["dev_best_threshold"] = best
    out["test_at_own"] = out["test"][str(own)]["f"]
    out["test_at_dev_best"] = out["test"][str(best)]["f"]
    return out


def _fmt_mean_sd(xs: List[float]) -> str:
    return fmt_mean_sd(xs, scale=100)


def _seeds_phrase(counts: List[int]) -> str:
    """'3 seeds', '1 seed' or, where corpora differ, 'seeds per corpus: 3, 1'."""
    if len(set(counts)) == 1:
        return seeds_phrase(counts[0])
    return "seeds per corpus: " + ", ".join(str(n) for n in counts)


def write_report(results: dict, md_path: Path, json_path: Path) -> None:
    lines = ["# One threshold for all types, swept on dev", "",
             "Generated by `python -m scripts.threshold_sweep` from the benchmark's model-best of each seed "
             f"(`benchmarks/{json_path.name}`). Scored like the benchmark: exact spans in characters, `doc.ents` "
             "for GlobalPointer on flat corpora, `doc.spans[\"sc\"]` otherwise.", ""]
    gp_rows = {c: v["gp"] for c, v in results.items() if "gp" in v}
    if gp_rows:
        # sweeps made before own thresholds were rounded hold e.g. both "0.3" and
        # "0.30000000000000004", the same threshold: one row
        dev = {c: [{_threshold(t): v for t, v in r["dev"].items()} for r in runs.values()]
               for c, runs in gp_rows.items()}
        grid = sorted({t for rows in dev.values() for r in rows for t in r})
        table = []
        for t in grid:
            means = []
            for rows in dev.values():
                fs = [r[t]["f"] for r in rows if t in r]
                means.append(statistics.mean(fs) if fs else float("nan"))
            table.append((f"{t:g}", *(f"{100 * m:.1f}" for m in means), f"{100 * statistics.mean(means):.2f}"))
        seeds = _seeds_phrase([len(runs) for runs in gp_rows.values()])
        lines += [f"## GlobalPointer: mean dev F ({seeds}) per threshold", "",
                  md_table(table, ["threshold", *gp_rows, "mean over corpora"], "r" * (len(gp_rows) + 2)), ""]
    lines += ["## Test F at the component's own threshold and at its dev-best threshold", "",
              "Mean ± sd over the seeds; each seed's threshold is the best on its own dev split. The last "
              "column is the best single threshold on test (an oracle, never a setting): how far the "
              "component's own threshold is from the best it could reach.", ""]
    table = []
    for corpus, variants in results.items():
        for variant, runs in variants.items():
            rows = list(runs.values())
            owns = sorted({r["own_threshold"] for r in rows})
            oracle = [max(r["test"].values(), key=lambda v: v["f"])["f"] for r in rows]
            table.append((corpus, VARIANTS[variant]["label"], ", ".join(format(t, "g") for t in owns),
                          _fmt_mean_sd([r["test_at_own"] for r in rows]),
                          ", ".join(format(r["dev_best_threshold"], "g") for r in rows),
                          _fmt_mean_sd([r["test_at_dev_best"] for r in rows]), _fmt_mean_sd(oracle)))
    lines.append(md_table(table, ["corpus", "component", "own threshold", "test F at own", "dev-best thresholds",
                                  "test F at dev-best", "test F at the best test threshold"], "llrrlrr"))
    md_path.write_text("\n".join(lines) + "\n", encoding="utf8")


def main(
    corpora: List[str] = typer.Argument(..., help="Benchmark corpora"),
    seeds: str = typer.Option("0,1,2", "--seeds"),
    variants: str = typer.Option("gp,spancat", "--variants", help="Variants with a `threshold` setting"),
    runs_dir: Path = typer.Option(PROJECT / "benchmarks/runs", "--runs-dir"),
    corpus_root: Path = typer.Option(PROJECT / "corpus/bench", "--corpus-root"),
    regime: str = typer.Option("cpu", "--regime", help="cpu, vectors, minilm: the runs of `benchmark run --regime` "
                               "(RUNS_DIR/CORPUS_REGIME); a pretrained regime writes threshold_REGIME.json and "
                               "THRESHOLD_REGIME.md unless --output/--report say otherwise"),
    tag: str = typer.Option("", "--tag", help="The runs of `benchmark run --tag TAG` (RUNS_DIR/CORPUS[_REGIME]_TAG); "
                            "writes threshold[_REGIME]_TAG.json and THRESHOLD[_REGIME]_TAG.md"),
    grid: str = typer.Option(",".join(format(t, "g") for t in GRID), "--grid", help="Thresholds swept"),
    output: Path = typer.Option(None, "--output", help="Default: benchmarks/threshold[_REGIME][_TAG].json"),
    report: Path = typer.Option(None, "--report", help="Default: benchmarks/THRESHOLD[_REGIME][_TAG].md"),
) -> None:
    one_thread()
    key = regime_tag(regime, tag)
    suffix = f"_{key}" if key else ""
    output = output or PROJECT / f"benchmarks/threshold{suffix}.json"
    report = report or PROJECT / f"benchmarks/THRESHOLD{suffix}.md"
    values = tuple(float(t) for t in grid.split(","))
    results = read_json(output, default={})
    for corpus in corpora:
        if corpus not in CORPORA:
            raise SystemExit(f"Unknown corpus {corpus!r}; one of {sorted(CORPORA)}")
        for variant in variants.split(","):
            component = VARIANTS[variant]["component"]
            for seed in seeds.split(","):
                model = runs_dir / f"{corpus}{suffix}" / f"{variant}_s{seed}" / "model-best"
                if not model.exists():
                    print(f"[{corpus}/{variant}/seed {seed}] no model at {model}, skipped")
                    continue
                print(f"[{corpus}/{variant}/seed {seed}] sweeping", flush=True)
                row = sweep_model(model, corpus_root / corpus, component, CORPORA[corpus]["flat"], values)
                results.setdefault(corpus, {}).setdefault(variant, {})[seed] = row
                print(f"  dev-best {row['dev_best_threshold']:g}: test F {100 * row['test_at_own']:.1f} at "
                      f"{row['own_threshold']:g} -> {100 * row['test_at_dev_best']:.1f}", flush=True)
                write_json(output, results, indent=1)
    write_report(results, report, output)
    print(f"Wrote {output} and {report}")


if __name__ == "__main__":
    typer.run(main)
