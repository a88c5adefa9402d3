"""Render gold and predicted spans of a test set with displaCy (style="span").

    python -m scripts.visualize MODEL DATA.spacy OUTPUT.html [--spans-key sc] [--limit 50] [--gpu-id -1]

For each of the first LIMIT docs of DATA.spacy, the gold doc and the model's
prediction are drawn one above the other. Nested and overlapping spans are
stacked by displaCy's span renderer. The title of each prediction counts the
correct, missed and spurious spans (exact match of start, end and label).
"""
from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import typer

from .common import score_spans, span_tuples

# A fixed palette, so a label keeps its colour from one run to the next.
PALETTE = [
    "#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb", "#9cc9cc",
    "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2", "#ddd", "#a3d9ff",
]


def label_colors(labels: Iterable[str]) -> Dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def span_set(doc, spans_key: str) -> set:
    return span_tuples(doc.spans.get(spans_key, []))


def compare(gold, pred, spans_key: str) -> Tuple[int, int, int]:
    g, p = span_set(gold, spans_key), span_set(pred, spans_key)
    return len(g & p), len(g - p), len(p - g)


def render_pairs(pairs: List[Tuple[object, object]], spans_key: str, title: str = "") -> str:
    """HTML page with gold and predicted docs, one pair per example."""
    from spacy import displacy

    labels = [s.label_ for g, p in pairs for d in (g, p) for s in d.spans.get(spans_key, [])]
    options = {"spans_key": spans_key, "colors": label_colors(labels)}
    docs = []
    for i, (gold, pred) in enumerate(pairs, 1):
        tp, fn, fp = compare(gold, pred, spans_key)
        gold.user_data["title"] = f"#{i} gold ({len(gold.spans.get(spans_key, []))} spans)"
        pred.user_data["title"] = f"#{i} predicted: {tp} correct, {fn} missed, {fp} spurious"
        docs.extend([gold, pred])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W117\]")  # docs without spans
        # minify: no whitespace between the per-character blocks (Chinese has no spaces)
        body = displacy.render(docs, style="span", options=options, page=False, minify=True, jupyter=False)
    scores = score_spans((span_set(pred, spans_key), span_set(gold, spans_key)) for gold, pred in pairs)
    p, r, f = scores["p"], scores["r"], scores["f"]
    header = (
        f"<h1>{html.escape(title)}</h1><p>{len(pairs)} docs, spans_key={html.escape(spans_key)}: "
        f"P {p:.3f} R {r:.3f} F {f:.3f} (exact match on these docs only)</p>"
    )
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title></head>"
        '<body style="font-family: -apple-system, sans-serif; padding: 2em">'
        f"{header}{body}</body></html>"
    )


def main(
    model: str = typer.Argument(..., help="Path or name of the trained pipeline"),
    data_path: Path = typer.Argument(..., exists=True, help="DocBin with gold docs (test.spacy)"),
    output: Path = typer.Argument(..., help="HTML file to write"),
    spans_key: str = typer.Option("sc", "--spans-key", help="doc.spans key of gold and predictions"),
    limit: int = typer.Option(50, "--limit", help="Number of docs to render (0: all)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU id, -1 for CPU"),
) -> None:
    import spacy
    from spacy.tokens import DocBin

    try:  # registers the factory even if the entry points are not installed
        import spacy_globalpointer  # noqa: F401
    except ImportError:
        pass
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    if limit > 0:
        gold_docs = gold_docs[:limit]
    preds = list(nlp.pipe(d.text for d in gold_docs))
    page = render_pairs(list(zip(gold_docs, preds)), spans_key, title=f"{model} on {data_path}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    typer.echo(f"Rendered {len(gold_docs)} docs to {output}")


if __name__ == "__main__":
    typer.run(main)
