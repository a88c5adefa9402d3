"""Learning curves of the benchmark: the dev score of every evaluation, per
corpus and component, the mean over seeds with the min-max band.

Reads benchmarks/<corpus>.json (written by `python -m scripts.benchmark run`); the
dev score is each component's main training score (entity F for spaCy ner
and for globalpointer_ner on flat corpora, span F otherwise).

    python -m scripts.plot_benchmark [--out benchmarks/learning_curves.png]
    python -m scripts.plot_benchmark --tag long --out benchmarks/learning_curves_long.png

`--tag` plots the runs kept apart with `benchmark.py run --tag` instead.
"""
from __future__ import annotations

from pathlib import Path

import typer

from .common import PROJECT, read_json, seeds_phrase
STYLE = {"gp": ("tab:red", "-"), "egp": ("tab:orange", "-"), "ner": ("tab:blue", "-"),
         "spancat": ("tab:green", "-"), "gp_norope": ("tab:pink", "--")}
ORDER = ("cluener", "wnut17", "cmeee", "danplus", "litbank", "btc")


def mean_curve(runs):
    """Steps, and the mean, min and max dev score over the runs at each step
    that every run evaluated."""
    per_run = [{r["step"]: r["score"] for r in run["curve"]} for run in runs]
    steps = sorted(set.intersection(*(set(c) for c in per_run))) if per_run else []
    values = [[100 * c[s] for c in per_run] for s in steps]
    return steps, [sum(v) / len(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def main(
    bench_dir: Path = typer.Option(PROJECT / "benchmarks", "--bench-dir"),
    out: Path = typer.Option(PROJECT / "benchmarks" / "learning_curves.png", "--out"),
    tag: str = typer.Option("", "--tag", help="Plot the runs of `benchmark.py run --tag TAG`"),
) -> None:
    """Write the learning-curve plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = []
    for path in sorted(bench_dir.glob("*.json")):
        data = read_json(path)
        want = f"{data.get('corpus')}_{tag}" if tag else data.get("corpus")
        if data.get("corpus") in ORDER and data.get("key") == want:
            results.append(data)
    results.sort(key=lambda d: ORDER.index(d["corpus"]))
    if not results:
        raise SystemExit(f"no benchmark results in {bench_dir}")
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for ax, data in zip(axes[0], results):
        for name, variant in data["variants"].items():
            runs = [r for r in variant["runs"].values() if r.get("status") == "ok"]
            if not runs or name not in STYLE:
                continue
            steps, mean, low, high = mean_curve(runs)
            color, line = STYLE[name]
            ax.plot(steps, mean, line, color=color, label=f"{variant['label']} ({seeds_phrase(len(runs))})")
            ax.fill_between(steps, low, high, color=color, alpha=0.15, linewidth=0)
        ax.set_title(data.get("title", data["corpus"]), fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("dev F (main score)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)
