"""Plot dev F vs training time for every benchmarked variant.

Reads the per-evaluation training logs written by scripts/bench_logger.py
(benchmarks/runs/<corpus>/<variant>/train_log.jsonl, one JSON line per
evaluation with a perf_counter clock), falling back to the "history" kept in
benchmarks/<corpus>.json. One column per corpus; top row: wall clock of the
training process (dev evaluations included), bottom row: the same with the
dev evaluations taken out (time = sum of interval time - dev words / eval speed).

    python scripts/plot_benchmark.py [--out benchmarks/dev_f_vs_time.png]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

PROJECT = Path(__file__).resolve().parent.parent
STYLE = {"gp": ("tab:red", "-"), "egp": ("tab:orange", "-"), "gp_norope": ("tab:pink", "--"),
         "ner": ("tab:blue", "-"), "spancat": ("tab:green", "-"), "gp_spacy_attrs": ("tab:brown", ":")}


def _curve(recs, dev_words):
    wall, train, f = [], [], []
    acc = 0.0
    prev = None
    for r in recs:
        if prev is not None:
            speed = (r.get("other_scores") or {}).get("speed") or 0
            ev = dev_words / speed if speed and dev_words else 0.0
            acc += max(r["t"] - prev["t"] - ev, 0.0)
        wall.append(r["t"])
        train.append(acc)
        f.append(100 * (r.get("score") or 0.0))
        prev = r
    return wall, train, f


def main(
    bench_dir: Path = typer.Option(PROJECT / "benchmarks", "--bench-dir"),
    out: Optional[Path] = typer.Option(None, "--out", help="Default: BENCH_DIR/dev_f_vs_time.png"),
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = []
    for p in sorted(bench_dir.glob("*.json")):
        d = json.loads(p.read_text())
        if "variants" in d:
            results.append(d)
    if not results:
        raise SystemExit(f"no benchmark JSON in {bench_dir}")
    fig, axes = plt.subplots(2, len(results), figsize=(6.5 * len(results), 8), squeeze=False)
    for col, d in enumerate(results):
        dev_words = d.get("dev_words", 0)
        for name, e in d["variants"].items():
            log = bench_dir / "runs" / d.get("key", d["corpus"]) / name / "train_log.jsonl"
            if log.exists():
                recs = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
            else:
                recs = [{"t": h["t"], "score": h["score"], "other_scores": {}} for h in e.get("history", [])]
            if not recs:
                continue
            wall, train, f = _curve(recs, dev_words)
            color, ls = STYLE.get(name, (None, "-"))
            lab = f"{e.get('label', name)} ({e.get('steps')} steps)"
            axes[0][col].plot(wall, f, ls, color=color, marker=".", label=lab)
            axes[1][col].plot(train, f, ls, color=color, marker=".", label=lab)
        axes[0][col].set_title(f"{d.get('key', d['corpus'])}: dev F vs wall clock (dev evals included)")
        axes[1][col].set_title(f"{d.get('key', d['corpus'])}: dev F vs training time (dev evals excluded)")
        for row in (0, 1):
            ax = axes[row][col]
            ax.set_xlabel("seconds")
            ax.set_ylabel("dev F (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Same tok2vec, seed, batches; 1 thread; spaCy " + results[0]["versions"].get("spacy", ""))
    fig.tight_layout()
    out = out or bench_dir / "dev_f_vs_time.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)
