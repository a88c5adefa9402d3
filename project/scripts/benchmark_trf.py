"""Speed next to a transformer: globalpointer_ner (both heads), spaCy ner and
spancat on one transformer encoder, CPU, one thread.

    python -m scripts.benchmark_trf CORPUS_DIR [--docs 120] [--batches 8] [--rounds 3]
    python -m scripts.benchmark_trf corpus/bench/wnut17 --model ../../shared/models/all-MiniLM-L6-v2 \
        --lang en --spancat-max 7 --tag minilm

With `--model`, a real pretrained transformer (a local folder) in
`configs/globalpointer_trf_words.cfg` (spaCy's tokenizer for `--lang`), and
the report goes to TRANSFORMER_<TAG>.md / transformer_<tag>.json.

No weights can be downloaded here, and speed does not need them: the encoder
is a randomly initialised BERT with bert-base-chinese's configuration (12
layers, hidden 768, 12 heads, intermediate 3072, vocabulary 21,128), saved
locally with a character vocabulary made from the corpus. Every pipeline is
`configs/globalpointer_trf.cfg` with its `globalpointer_ner` component swapped
for the one measured (ner and spancat get the same TransformerListener with
mean pooling; spancat's suggester is n-grams 1-12, as in the CPU benchmark).

- Training words/s: `nlp.update` on the same batches (about 500 words each,
  from CORPUS_DIR/train.spacy) with the config's Adam optimizer, the
  pipelines taking turns batch by batch (interleaved), after one warm-up
  batch each; the median of the per-batch rates. Dev evaluation is not
  included.
- Inference words/s: `nlp.pipe` over the first `--docs` docs of
  CORPUS_DIR/dev.spacy (pre-tokenised, batch size 64), and the same with the
  measured component disabled (the transformer alone); all pipelines
  interleaved for `--rounds` rounds after a warm-up, medians.
- The head's share of inference time: the component's own `pipe()` timed
  alone on docs the transformer has already annotated (also interleaved),
  over (transformer alone + component). 1 - (transformer alone) / (whole
  pipeline) is printed too, but it is the difference of two BERT passes and
  below their noise.

Writes benchmarks/TRANSFORMER.md and benchmarks/transformer.json.
"""
import os

from .common import PROJECT, ROOT, fresh_docs, interleaved, md_table, one_thread, set_thread_env, timed_pipe, write_json

set_thread_env()  # before numpy is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List  # noqa: E402

import typer  # noqa: E402
BERT_BASE_CHINESE = dict(
    vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
    initializer_range=0.02, layer_norm_eps=1e-12, pooler_fc_size=768, pooler_num_attention_heads=12,
    pooler_num_fc_layers=3, pooler_size_per_head=128, pooler_type="first_token_transform",
    directionality="bidi",
)
LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "upstream": "*",
    "pooling": {"@layers": "reduce_mean.v1"},
}
VARIANTS = ("GlobalPointer", "Efficient GlobalPointer", "spaCy ner", "spaCy spancat")


def make_bert(path: Path, texts: List[str]) -> Path:
    """A randomly initialised BERT with bert-base-chinese's configuration and a
    vocabulary of the corpus' characters (padded to 21,128 entries)."""
    import transformers

    if (path / "config.json").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    vocab = special + chars
    vocab += [f"[unused{i}]" for i in range(BERT_BASE_CHINESE["vocab_size"] - len(vocab))]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    config = transformers.BertConfig(**BERT_BASE_CHINESE)
    transformers.BertModel(config).save_pretrained(path)
    transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    return path


def component_config(variant: str, labels_ents: bool, spancat_max: int = 12) -> Dict:
    """The component block that replaces `globalpointer_ner` for a variant."""
    if variant in ("GlobalPointer", "Efficient GlobalPointer"):
        arch = "GlobalPointer" if variant == "GlobalPointer" else "EfficientGlobalPointer"
        return {
            "factory": "globalpointer_ner", "annotate_ents": labels_ents,
            "model": {"@architectures": f"spacy-globalpointer.{arch}.v1", "head_size": 64,
                      "use_rope": True, "tok2vec": LISTENER},
        }
    if variant == "spaCy ner":
        return {
            "factory": "ner",
            "model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
                      "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2,
                      "use_upper": False, "nO": None, "tok2vec": LISTENER},
        }
    return {
        "factory": "spancat", "spans_key": "sc", "threshold": 0.5, "max_positive": None,
        "suggester": {"@misc": "spacy.ngram_range_suggester.v1", "min_size": 1, "max_size": spancat_max},
        "model": {"@architectures": "spacy.SpanCategorizer.v1",
                  "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 128},
                  "scorer": {"@layers": "spacy.LinearLogistic.v1", "nO": None, "nI": None},
                  "tok2vec": LISTENER},
    }


def build_pipeline(variant: str, bert: Path, train_examples, config_name: str, spancat_max: int):
    """The shipped transformer config with the variant's component, initialised
    on the training examples."""
    import spacy
    from spacy.util import load_config

    config = load_config(ROOT / "configs" / config_name, interpolate=True)
    name = {"spaCy ner": "ner", "spaCy spancat": "spancat"}.get(variant, "globalpointer_ner")
    del config["components"]["globalpointer_ner"]
    config["components"][name] = component_config(variant, labels_ents=True, spancat_max=spancat_max)
    config["nlp"]["pipeline"] = ["transformer", name]
    config["components"]["transformer"]["model"]["name"] = str(bert)
    config["system"]["gpu_allocator"] = None
    config["training"]["gpu_allocator"] = None
    config["training"]["score_weights"] = {}
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    optimizer = nlp.initialize(lambda: train_examples)
    return nlp, name, optimizer


def main(
    corpus_dir: Path = typer.Argument(..., help="Folder with train.spacy and dev.spacy (e.g. CLUENER converted)"),
    docs: int = typer.Option(120, "--docs", help="Dev docs per inference pass"),
    batches: int = typer.Option(8, "--batches", help="Timed training batches per variant"),
    batch_words: int = typer.Option(500, "--batch-words"),
    rounds: int = typer.Option(3, "--rounds", help="Interleaved inference rounds"),
    bert_dir: Path = typer.Option(Path("/tmp/bert-base-chinese-random"), "--bert-dir"),
    model: Path = typer.Option(None, "--model", help="A pretrained transformer folder (word-tokenised "
                               "corpora, configs/globalpointer_trf_words.cfg); default: a random "
                               "bert-base-chinese in --bert-dir with configs/globalpointer_trf.cfg"),
    lang: str = typer.Option("zh", "--lang", help="spaCy language of the corpus"),
    spancat_max: int = typer.Option(12, "--spancat-max", help="spancat's longest n-gram"),
    tag: str = typer.Option("", "--tag", help="Report to TRANSFORMER_<TAG>.md / transformer_<tag>.json"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
) -> None:
    """Train and inference speed of the four components on a transformer encoder."""
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Corpus
    from spacy.training.batchers import minibatch_by_words
    from thinc.api import fix_random_seed

    one_thread()
    fix_random_seed(0)
    blank = spacy.blank(lang)
    train_examples = list(Corpus(corpus_dir / "train.spacy")(blank))
    dev_docs = list(DocBin().from_disk(corpus_dir / "dev.spacy").get_docs(blank.vocab))[:docs]
    if model is None:
        bert = make_bert(bert_dir, [eg.reference.text for eg in train_examples] + [d.text for d in dev_docs])
        config_name, encoder = "globalpointer_trf.cfg", "a randomly initialised BERT with bert-base-chinese's configuration (weights cannot be downloaded here; the cost is the same)"
    else:
        bert, config_name, encoder = model.resolve(), "globalpointer_trf_words.cfg", f"the pretrained `{model.name}`"
    pipelines = {}
    for variant in VARIANTS:
        nlp, name, optimizer = build_pipeline(variant, bert, train_examples[:500], config_name, spancat_max)
        chosen = list(minibatch_by_words(_first_words(Corpus(corpus_dir / "train.spacy")(nlp),
                                                      2 * (batches + 1) * batch_words), size=batch_words))
        chosen = chosen[: batches + 1]
        if len(chosen) < batches + 1:
            sys.exit(f"{corpus_dir}/train.spacy has too few words for {batches + 1} batches of {batch_words}")
        pipelines[variant] = (nlp, name, optimizer, chosen)
        print(f"{variant}: built and initialised", flush=True)
    train_rates: Dict[str, List[float]] = {variant: [] for variant in VARIANTS}
    for i in range(batches + 1):
        for variant, (nlp, name, optimizer, chosen) in pipelines.items():
            batch = chosen[i]
            start = time.perf_counter()
            nlp.update(batch, sgd=optimizer, drop=0.1)
            if i:  # the first batch is the warm-up
                train_rates[variant].append(sum(len(eg.predicted) for eg in batch) / (time.perf_counter() - start))
        print(f"training batch {i + 1}/{batches + 1} done", flush=True)
    pipelines = {variant: (nlp, name) for variant, (nlp, name, _, _) in pipelines.items()}
    n_words = sum(len(d) for d in dev_docs)
    measures = {}
    for variant, (nlp, name) in pipelines.items():
        measures[(variant, "whole")] = lambda nlp=nlp: timed_pipe(nlp, dev_docs, 64)
        measures[(variant, "encoder")] = lambda nlp=nlp, name=name: timed_pipe(nlp, dev_docs, 64, [name])
        # The component alone, on docs the transformer has already annotated:
        # timed directly, since "whole - encoder" is below the noise of two
        # BERT passes.
        encoded = list(nlp.pipe(fresh_docs(nlp.vocab, dev_docs), batch_size=64, disable=[name]))
        measures[(variant, "component")] = lambda nlp=nlp, name=name, encoded=encoded: _timed_component(
            nlp.get_pipe(name), encoded)
    times = interleaved(measures, rounds)
    results = {}
    for variant in VARIANTS:
        whole, encoder_s, component = (times[(variant, k)] for k in ("whole", "encoder", "component"))
        results[variant] = {
            "train_wps": statistics.median(train_rates[variant]), "train_wps_batches": train_rates[variant],
            "infer_wps": n_words / whole, "encoder_only_wps": n_words / encoder_s,
            "component_s": component, "whole_s": whole, "encoder_s": encoder_s,
            "head_share": component / (encoder_s + component),
            "head_share_by_difference": 1 - encoder_s / whole,
        }
    run = {"corpus_dir": str(corpus_dir), "dev_docs": len(dev_docs), "dev_words": n_words, "batches": batches,
           "batch_words": batch_words, "rounds": rounds, "config": config_name, "encoder": encoder,
           "spancat": f"1-{spancat_max}"}
    write_report(results, out_dir, run, tag)


def _first_words(examples, n_words: int) -> List:
    """The first examples of a corpus, up to about n_words words."""
    out, total = [], 0
    for eg in examples:
        if total >= n_words:
            break
        out.append(eg)
        total += len(eg.predicted)
    return out


def _timed_component(pipe, docs) -> float:
    """Seconds for the component's own pipe() over docs that already carry
    the transformer's output."""
    start = time.perf_counter()
    for _ in pipe.pipe(docs, batch_size=64):
        pass
    return time.perf_counter() - start


def write_report(results, out_dir: Path, run: Dict, tag: str) -> None:
    """benchmarks/transformer[_tag].json and TRANSFORMER[_TAG].md."""
    import platform

    out_dir.mkdir(parents=True, exist_ok=True)
    meta = dict(run, threads=1, python=platform.python_version(), load_average=os.getloadavg(),
                cmd=" ".join(["python", "-m", "scripts.benchmark_trf"] + sys.argv[1:]))
    suffix = f"_{tag}" if tag else ""
    write_json(out_dir / f"transformer{suffix.lower()}.json", {"meta": meta, "results": results})
    markdown = render(results, meta)
    (out_dir / f"TRANSFORMER{suffix.upper()}.md").write_text(markdown, encoding="utf8")
    print(markdown)


def render(results: Dict, meta: Dict) -> str:
    """TRANSFORMER[_TAG].md from the results and the run's meta (transformer[_tag].json)."""
    run = meta
    gp, sc = results["GlobalPointer"], results["spaCy spancat"]
    lines = [
        f"# Speed next to a transformer ({run['config']}, CPU, 1 thread)", "",
        f"Generated by `{meta['cmd']}` (see the script's docstring for the method). Encoder: "
        f"{run['encoder']}. Same docs and batches for every component; spancat's suggester n-grams "
        f"{run['spancat']}.", "",
        f"Training: {run['batches']} batches of ~{run['batch_words']} words (median of per-batch rates); "
        f"inference: {run['dev_docs']} dev docs ({run['dev_words']:,} words), {run['rounds']} interleaved "
        f"rounds, medians. Load average at the end: {', '.join(f'{x:.1f}' for x in meta['load_average'])}.", "",
        md_table([(variant, f"{r['train_wps']:,.0f}", f"{r['infer_wps']:,.0f}", f"{r['encoder_only_wps']:,.0f}",
                   f"{r['component_s']:.3f}", f"{100 * r['head_share']:.2f}%",
                   f"{100 * r['head_share_by_difference']:+.1f}%") for variant, r in results.items()],
                 ["component", "train words/s", "infer words/s", "transformer alone words/s", "component alone (s)",
                  "head share of inference time", "(by difference of the two passes)"], "lrrrrrr"),
    ]
    lines += ["", "Targets:", "",
              f"- GlobalPointer head <= 5% of the pipeline's inference time: {100 * gp['head_share']:.1f}% "
              f"({'HIT' if gp['head_share'] <= 0.05 else 'MISSED'})",
              f"- Training >= 1.2x spancat: {gp['train_wps'] / sc['train_wps']:.2f}x "
              f"({'HIT' if gp['train_wps'] >= 1.2 * sc['train_wps'] else 'MISSED'})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    typer.run(main)
