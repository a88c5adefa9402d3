"""Check that long sentences train and predict without truncation (MSRA).

    python -m scripts.check_long_docs [/work/shared/data/msra] [--steps 200]   # from project/

MSRA sentences reach 746 characters in train and 2427 in test. This trains the
CPU pipeline (configs/globalpointer_tok2vec.cfg) for a few steps on a subset
that holds the longest train sentences and those with the longest entities,
then predicts the whole test set. It reports time and peak RSS, the learned
`max_length`, how many gold spans lie beyond token 510 (where a BERT-style
512-token cut would lose them) and the recall there, and the P/R/F on the
longest test docs and on all of them. A short run, not a benchmark of accuracy.
"""
from __future__ import annotations

import random
import sys
import time
import warnings
from pathlib import Path

import typer

from . import corpora
from .common import ROOT, peak_rss_mib, score_spans

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _prf(pairs):
    """P, R, F of (predicted, gold) span sets, exact match."""
    scores = score_spans(pairs)
    return scores["p"], scores["r"], scores["f"]


@app.command()
def main(
    data_dir: Path = typer.Argument(
        Path("/work/shared/data/msra"), help="Folder with msra_{train,test}_bio"
    ),
    steps: int = typer.Option(200, help="Training steps"),
    n_longest: int = typer.Option(200, help="Longest train sentences in the subset"),
    n_random: int = typer.Option(800, help="Other (random) train sentences in the subset"),
    batch_tokens: int = typer.Option(
        1500, help="Tokens per training batch (a longer doc forms its own)"
    ),
    n_test_longest: int = typer.Option(20, help="Longest test docs reported on their own"),
    config: Path = typer.Option(ROOT / "configs" / "globalpointer_tok2vec.cfg"),
    seed: int = typer.Option(0),
) -> None:
    """Train briefly on MSRA's longest sentences and predict its longest docs."""
    from spacy.training import Example
    from spacy.util import fix_random_seed, load_config, load_model_from_config

    t0 = time.perf_counter()
    reader = corpora.get_format("msra").reader
    train = reader(str(data_dir / "msra_train_bio"))
    test = reader(str(data_dir / "msra_test_bio"))
    nlp = load_model_from_config(load_config(config), auto_fill=True)
    fix_random_seed(seed)
    rng = random.Random(seed)
    by_len = sorted(range(len(train)), key=lambda i: -len(train[i].text))
    by_span = sorted(
        range(len(train)), key=lambda i: -max((s.end - s.start for s in train[i].spans), default=0)
    )
    chosen = set(by_len[:n_longest]) | set(by_span[:20])
    rest = [i for i in range(len(train)) if i not in chosen]
    chosen |= set(rng.sample(rest, n_random))

    def example(rec):
        ref = corpora.build_doc(nlp, rec, None, "sc", nested=False)
        return Example(nlp.make_doc(rec.text), ref)

    examples = [example(train[i]) for i in sorted(chosen)]
    n_tok = sum(len(eg.reference) for eg in examples)
    longest_train = max(len(eg.reference) for eg in examples)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizer = nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("globalpointer_ner")
    t_init = time.perf_counter() - t0

    # Batches of about batch_tokens tokens, shuffled each epoch.
    def batches():
        while True:
            order = list(range(len(examples)))
            rng.shuffle(order)
            batch, size = [], 0
            for i in order:
                n = len(examples[i].reference)
                if batch and size + n > batch_tokens:
                    yield batch
                    batch, size = [], 0
                batch.append(examples[i])
                size += n
            if batch:
                yield batch

    t1 = time.perf_counter()
    losses: dict = {}
    seen_longest = False
    gen = batches()
    for step in range(steps):
        batch = next(gen)
        seen_longest |= any(len(eg.reference) == longest_train for eg in batch)
        nlp.update(batch, sgd=optimizer, drop=0.1, losses=losses)
    t_train = time.perf_counter() - t1
    peak_train = peak_rss_mib()

    test_docs = [corpora.build_doc(nlp, rec, None, "sc", nested=False) for rec in test]
    t2 = time.perf_counter()
    preds = list(nlp.pipe((nlp.make_doc(d.text) for d in test_docs), batch_size=64))
    t_pred = time.perf_counter() - t2
    peak_pred = peak_rss_mib()

    def spans(doc, start=0):
        return {(s.start, s.end, s.label_) for s in doc.spans["sc"] if s.start >= start}

    pairs = [(spans(p), spans(g)) for p, g in zip(preds, test_docs)]
    longest = sorted(range(len(test_docs)), key=lambda i: -len(test_docs[i]))[:n_test_longest]
    late = [(spans(preds[i], 510), spans(test_docs[i], 510)) for i in range(len(test_docs))]
    n_late_gold = sum(len(g) for _, g in late)
    n_late_pred = sum(len(p) for p, _ in late)
    top = preds[longest[0]]
    last_end = max((s.end for s in top.spans["sc"]), default=0)
    codes = sorted({str(w.message)[:8] for w in caught if "[GP" in str(w.message)})
    p_all, r_all, f_all = _prf(pairs)
    p_l, r_l, f_l = _prf([pairs[i] for i in longest])
    _, r_late, _ = _prf(late)
    loss = losses.get("globalpointer_ner", 0.0)
    n_test_tok = sum(len(d) for d in test_docs)
    lines = [
        f"Command: `python -m scripts.check_long_docs {' '.join(sys.argv[1:])}`",
        "",
        f"- train subset: {len(examples)} sentences, {n_tok:,} tokens, longest {longest_train} "
        f"tokens (in a batch: {seen_longest}); labels {list(pipe.labels)}; learned "
        f"max_length {pipe.max_length}; warnings at initialize: {codes or 'none'}",
        f"- initialize (incl. reading the corpus): {t_init:.1f} s; {steps} steps of "
        f"~{batch_tokens} tokens: {t_train:.1f} s ({t_train / steps:.2f} s/step), loss summed "
        f"over the steps {loss:.1f}; peak RSS after training {peak_train:.0f} MB",
        f"- predict the whole test set ({len(test_docs)} docs, {n_test_tok:,} tokens, longest "
        f"{len(top)}): {t_pred:.1f} s; peak RSS {peak_pred:.0f} MB",
        f"- longest test doc: last predicted span ends at token {last_end} of {len(top)}",
        f"- gold spans starting at token >= 510: {n_late_gold} (predicted there: "
        f"{n_late_pred}), recall {r_late:.2f}",
        f"- P/R/F all test docs: {p_all:.3f}/{r_all:.3f}/{f_all:.3f}; the {n_test_longest} "
        f"longest: {p_l:.3f}/{r_l:.3f}/{f_l:.3f} (after {steps} steps only)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    app()
