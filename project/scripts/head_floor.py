"""The GlobalPointer head's FLOP floor on a corpus, against its measured time.

    python -m scripts.head_floor MODEL DATA [--rounds 7] [--batch-size 256]

The floor counts only what the head must compute for the corpus' docs:

- the input projection: 2 * width * (2 * head_size * types) FLOPs per token
  (Efficient GlobalPointer: 2 * width * 2 * head_size, plus its per-type
  start/end terms, 2 * 2 * head_size * 2 * types),
- RoPE on the projected q and k (3 FLOPs per element),
- one dot product (2 * head_size FLOPs) per valid span and type, a valid span
  being i <= j < n with j - i < max_length: n(n+1)/2 for a doc of n <= max_length
  tokens (Efficient: per span, plus one add per type).

Decoding, masks and copies are not in the floor. The tok2vec's FLOPs are 2 *
|W| per token for every layer of its Thinc model that has a weight matrix `W`
(hash embeddings are lookups, normalisation is cheap). The floor in seconds
is the head's FLOPs at the FLOP rate the tok2vec achieves on the same docs
(its FLOPs / its measured time), i.e. "the head as efficient as the tok2vec".

Times: `nlp.pipe` over the pre-tokenised docs, the whole pipeline and then
with the head disabled (the tok2vec alone), interleaved for `--rounds`
rounds after one warm-up, medians; head time = whole - tok2vec. One thread.
"""
from .common import fresh_docs, set_thread_env, torch_one_thread

set_thread_env()  # before numpy is imported

import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy  # noqa: E402
import typer  # noqa: E402


def tok2vec_flops_per_token(model) -> int:
    """2 * |W| summed over the layers of `model` that have a weight matrix W."""
    return sum(2 * node.get_param("W").size for node in model.walk() if node.has_param("W"))


def valid_spans(lengths: numpy.ndarray, max_length: int) -> int:
    """Spans i <= j < n with j - i < max_length, summed over docs of n tokens."""
    n = lengths.astype("int64")
    L = numpy.minimum(n, max_length)
    # Spans per start i: min(L, n - i); summed: L * n - L * (L - 1) / 2.
    return int(numpy.sum(L * n - L * (L - 1) // 2))


def head_flops(lengths: numpy.ndarray, width: int, head_size: int, n_types: int,
               max_length: int, efficient: bool) -> dict:
    """The head's floor in FLOPs for docs of these lengths, by part."""
    tokens = int(lengths.sum())
    d = head_size
    proj_out = 2 * d if efficient else 2 * d * n_types
    parts = {
        "projection": 2 * width * proj_out * tokens,
        "rope": 3 * (2 * d if efficient else 2 * d * n_types) * tokens,
    }
    spans = valid_spans(lengths, max_length)
    if efficient:
        parts["start/end terms"] = 2 * (2 * d) * (2 * n_types) * tokens
        parts["span scores"] = spans * (2 * d + n_types)
    else:
        parts["span scores"] = spans * n_types * 2 * d
    return parts


def main(
    model: Path = typer.Argument(..., help="Trained pipeline with tok2vec + globalpointer_ner"),
    data: Path = typer.Argument(..., help="Docs to run (.spacy)"),
    rounds: int = typer.Option(7, "--rounds", help="Interleaved timing rounds (after one warm-up)"),
    batch_size: int = typer.Option(256, "--batch-size"),
    component: str = typer.Option("globalpointer_ner", "--component"),
    tok2vec_name: str = typer.Option("tok2vec", "--tok2vec", help="The tok2vec component feeding the head"),
) -> None:
    """Print the head's FLOP floor and its measured time on DATA."""
    import spacy
    from spacy.tokens import DocBin

    torch_one_thread()
    nlp = spacy.load(model)
    pipe = nlp.get_pipe(component)
    head = pipe.model.get_ref("pointer")
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    lengths = numpy.asarray([len(d) for d in gold])
    width, n_types = head.get_dim("nI"), head.get_dim("nO")
    d, efficient, L = head.attrs["head_size"], head.attrs["efficient"], pipe.max_length
    parts = head_flops(lengths, width, d, n_types, L, efficient)
    tokens = int(lengths.sum())
    t2v_flops = tok2vec_flops_per_token(nlp.get_pipe(tok2vec_name).model) * tokens
    floor_flops = sum(parts.values())

    def timed(disable):
        docs = fresh_docs(nlp.vocab, gold)
        with nlp.select_pipes(disable=disable):
            start = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=batch_size):
                pass
            return time.perf_counter() - start

    timed([]), timed([component])
    whole, alone = [], []
    for _ in range(rounds):
        whole.append(timed([]))
        alone.append(timed([component]))
    t_whole, t_t2v = statistics.median(whole), statistics.median(alone)
    t_head = t_whole - t_t2v
    rate = t2v_flops / t_t2v
    t_floor = floor_flops / rate
    print(f"data: {data} ({len(gold)} docs, {tokens} tokens, mean length {lengths.mean():.1f}, "
          f"max {lengths.max()})")
    print(f"head: {'Efficient ' if efficient else ''}GlobalPointer, width {width}, {n_types} types, "
          f"head_size {d}, max_length {L}; valid spans {valid_spans(lengths, L):,}")
    print("FLOPs per token:")
    for name, value in parts.items():
        print(f"  head {name:<16} {value / tokens:>12,.0f}")
    print(f"  head floor total       {floor_flops / tokens:>12,.0f}   "
          f"({100 * floor_flops / t2v_flops:.1f}% of the tok2vec)")
    print(f"  tok2vec                {t2v_flops / tokens:>12,.0f}")
    print(f"time (median of {rounds} interleaved rounds, batch size {batch_size}, 1 thread):")
    print(f"  tok2vec alone          {t_t2v:8.3f} s   ({rate / 1e9:.2f} GFLOP/s)")
    print(f"  whole pipeline         {t_whole:8.3f} s")
    print(f"  head (whole - tok2vec) {t_head:8.3f} s   = {100 * t_head / t_t2v:.1f}% over the tok2vec")
    print(f"  head floor             {t_floor:8.3f} s   = {100 * t_floor / t_t2v:.1f}% over the tok2vec")
    print(f"  head / floor           {t_head / t_floor:8.2f}x   (target <= 1.33x)")


if __name__ == "__main__":
    typer.run(main)
