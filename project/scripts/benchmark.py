"""Side-by-side benchmark: globalpointer_ner vs spaCy's ner and spancat, on
Chinese and word-tokenised corpora, with several seeds.

The protocol: every component of a corpus is trained with the same tok2vec
(the CPU config of its script family: per-character Chinese, or words with
spaCy's tokenizer for the language), the same batch schedule, optimizer,
dropout, number of steps and patience (0: every run does exactly `--steps`),
once per seed. The checkpoint with the best dev score (`model-best`, spaCy's
own choice by the component's main score) is evaluated on the held-out test
split: exact (start, end, label) matches, in characters, against all gold
spans. Figures are the mean and spread over seeds; the dev score of every
evaluation is kept for the learning curves.

    python -m scripts.benchmark run wnut17 --corpus-dir corpus/bench/wnut17 --seeds 0,1,2
    python -m scripts.benchmark run cluener --corpus-dir corpus/bench/cluener --variants gp,ner --seeds 0
    python -m scripts.benchmark speed cluener          # interleaved inference speed, seed-0 models
    python -m scripts.benchmark report                 # benchmarks/RESULTS.md

With a pretrained encoder (`--regime vectors`: en_core_web_md's static vectors
in the words tok2vec; `--regime minilm`: all-MiniLM-L6-v2, see REGIMES) the
runs go to benchmarks/<corpus>_<regime>.json and the report to
RESULTS_<regime>.md, apart from the CPU tables:

    python -m scripts.benchmark run litbank --corpus-dir corpus/bench/litbank --regime vectors --steps 2500 --eval-frequency 100
    python -m scripts.benchmark report --regime vectors

Which output is scored: doc.ents for spaCy ner and for globalpointer_ner on
flat corpora (it writes entities there), doc.spans["sc"] otherwise.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from .common import (PROJECT, ROOT, SPANS_KEY, fresh_docs, git, interleaved, machine, md_table, mean_sd,
                     one_thread, peak_rss_mib, read_json, read_jsonl, rel, run_measured, score_spans, script_cmd,
                     seeds_phrase, shown_cmd, span_tuples, timed_pipe, update_json, versions, write_json)

PY = sys.executable

# family: which tok2vec and tokenizer; lang: spaCy language (word corpora);
# spancat: the suggester's n-gram sizes (their coverage of the gold spans of
# train is printed in the report); steps: the training budget of every run.
CORPORA = {
    "cluener": {"family": "chars", "lang": "zh", "flat": True, "spancat": (1, 12), "steps": 4000,
                "title": "CLUENER 2020 (Chinese, flat, 10 types)"},
    "wnut17": {"family": "words", "lang": "en", "flat": True, "spancat": (1, 7), "steps": 3000,
               "title": "WNUT 2017 (English, flat, 6 types)"},
    "cmeee": {"family": "chars", "lang": "zh", "flat": False, "spancat": (1, 16), "steps": 3000,
              "title": "CMeEE v1 (Chinese, nested, 9 types)"},
    "danplus": {"family": "words", "lang": "da", "flat": False, "spancat": (1, 6), "steps": 3000,
                "title": "DaN+ news (Danish, nested, 12 types)"},
    # The pretrained regimes' corpora (issue 19); their budget is set per regime (--steps).
    "litbank": {"family": "words", "lang": "en", "flat": False, "spancat": (1, 12), "steps": 3000,
                "title": "LitBank (English, nested, 6 types; split by document)"},
    "btc": {"family": "words", "lang": "en", "flat": True, "spancat": (1, 4), "steps": 3000,
            "title": "Broad Twitter Corpus (English, flat, 3 types)"},
}
CONFIGS = {
    ("globalpointer_ner", "chars"): ROOT / "configs/globalpointer_tok2vec.cfg",
    ("globalpointer_ner", "words"): ROOT / "configs/globalpointer_tok2vec_words.cfg",
    ("ner", "chars"): PROJECT / "configs/ner_tok2vec.cfg",
    ("ner", "words"): PROJECT / "configs/ner_tok2vec_words.cfg",
    ("spancat", "chars"): PROJECT / "configs/spancat_tok2vec.cfg",
    ("spancat", "words"): PROJECT / "configs/spancat_tok2vec_words.cfg",
}
EFFICIENT = ["--components.globalpointer_ner.model.@architectures", "spacy-globalpointer.EfficientGlobalPointer.v1"]

# The encoder every component of a run shares. "cpu": the CPU tok2vec from
# random weights (CONFIGS; the committed tables). The pretrained regimes run on
# word corpora only, with the model given by path (run's --vectors-model /
# --transformer-model, project vars vectors_model / transformer_model): the
# configs name the public model (`en_core_web_md`, a hub name) the way a user
# would. "vectors": the words tok2vec with en_core_web_md's static vectors;
# GlobalPointer's run is configs/globalpointer_tok2vec_words.cfg with the two
# overrides that make it configs/globalpointer_tok2vec_words_vectors.cfg.
# "minilm": all-MiniLM-L6-v2 fine-tuned through spacy-transformers, the
# learning rate warmed up over the first 10% of the steps and decayed linearly
# to 0 at the last one (total_steps = the run's steps). Every component's
# updates are one padded batch of 1000 words, without gradient accumulation
# (the shipped configs' 3 x 2000 is sized for a GPU: on one CPU thread here an
# update of 1000 words takes ~3 s, and 1200 of them ~1 h).
MODELS_DIR = os.path.relpath(ROOT.parent / "shared" / "models", PROJECT)
REGIMES = {
    "cpu": {"encoder": "CPU tok2vec (random init)", "model": None},
    "vectors": {"encoder": "CPU words tok2vec + en_core_web_md static vectors", "model": "vectors",
                "configs": {"globalpointer_ner": ROOT / "configs/globalpointer_tok2vec_words.cfg",
                            "ner": PROJECT / "configs/ner_tok2vec_words_vectors.cfg",
                            "spancat": PROJECT / "configs/spancat_tok2vec_words_vectors.cfg"}},
    "minilm": {"encoder": "all-MiniLM-L6-v2 (spacy-transformers, fine-tuned)", "model": "transformer",
               "configs": {"globalpointer_ner": ROOT / "configs/globalpointer_trf_words.cfg",
                           "ner": PROJECT / "configs/ner_trf_words.cfg",
                           "spancat": PROJECT / "configs/spancat_trf_words.cfg"}},
}
DEFAULT_MODELS = {"vectors": f"{MODELS_DIR}/en_core_web_md", "transformer": f"{MODELS_DIR}/all-MiniLM-L6-v2"}


def config_of(component: str, family: str, regime: str) -> Path:
    if regime == "cpu":
        return CONFIGS[(component, family)]
    if family != "words":
        sys.exit(f"the {regime} regime is for word corpora (English) only")
    return REGIMES[regime]["configs"][component]


def regime_overrides(regime: str, steps: int, model: Optional[str]) -> List[str]:
    """The overrides every component of a run in `regime` gets alike."""
    if regime == "vectors":
        return ["--paths.vectors", model, "--components.tok2vec.model.embed.include_static_vectors", "true"]
    if regime == "minilm":
        return ["--components.transformer.model.name", model,
                "--training.optimizer.learn_rate.total_steps", str(steps),
                "--training.optimizer.learn_rate.warmup_steps", str(max(1, steps // 10)),
                "--training.batcher.size", "1000", "--training.accumulate_gradient", "1"]
    return []


# What every component of a run must share (the protocol): the tokenizer, the
# encoder's block and the training schedule; only the scores differ.
SHARED_BLOCKS = (("nlp", "tokenizer"), ("components", "tok2vec"), ("components", "transformer"),
                 ("training", "optimizer"), ("training", "batcher"), ("training", "dropout"),
                 ("training", "accumulate_gradient"))


def _flags_to_overrides(flags: List[str]) -> Dict[str, object]:
    """`--section.key value` CLI flags as a config overrides dict, the values
    read as spaCy's CLI reads them."""
    overrides: Dict[str, object] = {}
    for key, value in zip(flags[::2], flags[1::2]):
        try:
            overrides[key.lstrip("-")] = json.loads(value)
        except ValueError:
            overrides[key.lstrip("-")] = value
    return overrides


def differing_blocks(configs: List[Path], flags: List[str] = ()) -> List[str]:
    """The SHARED_BLOCKS in which the configs differ once `flags` (the
    regime's overrides) are applied; a missing config is skipped."""
    from spacy.util import load_config

    overrides = _flags_to_overrides(list(flags))
    loaded = [load_config(p, overrides=overrides, interpolate=False) for p in configs if p.exists()]
    differ = []
    for section, key in SHARED_BLOCKS:
        values = [c.get(section, {}).get(key) for c in loaded]
        if any(v != values[0] for v in values[1:]):
            differ.append(f"[{section}.{key}]")
    return differ


def shared_overrides(sets: List[str]) -> List[str]:
    """`--set SECTION.KEY=VALUE` options as `spacy train` flags."""
    flags = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key or "." not in key:
            sys.exit(f"--set {item!r}: write SECTION.KEY=VALUE, e.g. training.optimizer.use_averages=true")
        flags += [f"--{key.lstrip('-')}", value]
    return flags


def regime_tag(regime: str, tag: str) -> str:
    """Runs of a pretrained regime are kept apart like --tag runs: CORPUS_REGIME[_TAG]."""
    return "_".join(x for x in ((regime if regime != "cpu" else ""), tag) if x)


def _head_dropout(rate: str) -> List[str]:
    return ["--components.globalpointer_ner.model.dropout", rate]


def _boundary_smoothing(epsilon: str) -> List[str]:
    return ["--components.globalpointer_ner.boundary_smoothing", epsilon]


def _learn_rate_scale(scale: str) -> List[str]:
    return ["--components.globalpointer_ner.model.learn_rate_scale", scale]


VARIANTS = {
    "gp": {"component": "globalpointer_ner", "label": "GlobalPointer", "overrides": []},
    "egp": {"component": "globalpointer_ner", "label": "Efficient GlobalPointer", "overrides": EFFICIENT},
    "ner": {"component": "ner", "label": "spaCy ner", "overrides": []},
    "spancat": {"component": "spancat", "label": "spaCy spancat", "overrides": []},
    # Ablations and the regularisation candidates (chosen on dev, see notes.md).
    "gp_norope": {"component": "globalpointer_ner", "label": "GlobalPointer, no RoPE",
                  "overrides": ["--components.globalpointer_ner.model.use_rope", "false"]},
    "gp_hd0": {"component": "globalpointer_ner", "label": "GlobalPointer, head dropout 0",
               "overrides": _head_dropout("0.0")},
    "gp_hd10": {"component": "globalpointer_ner", "label": "GlobalPointer, head dropout 0.1",
                "overrides": _head_dropout("0.1")},
    "gp_hd20": {"component": "globalpointer_ner", "label": "GlobalPointer, head dropout 0.2",
                "overrides": _head_dropout("0.2")},
    "gp_hd30": {"component": "globalpointer_ner", "label": "GlobalPointer, head dropout 0.3",
                "overrides": _head_dropout("0.3")},
    "gp_td30": {"component": "globalpointer_ner", "label": "GlobalPointer, training dropout 0.3",
                "overrides": ["--training.dropout", "0.3"] + _head_dropout("0.0")},
    "gp_bs0": {"component": "globalpointer_ner", "label": "GlobalPointer, no boundary smoothing",
               "overrides": _boundary_smoothing("0.0")},
    "gp_bs10": {"component": "globalpointer_ner", "label": "GlobalPointer, boundary smoothing 0.1",
                "overrides": _boundary_smoothing("0.1")},
    "gp_hlr10": {"component": "globalpointer_ner", "label": "GlobalPointer, head learning rate x10",
                 "overrides": _learn_rate_scale("10.0")},
    "egp_hlr10": {"component": "globalpointer_ner", "label": "Efficient GlobalPointer, head learning rate x10",
                  "overrides": EFFICIENT + _learn_rate_scale("10.0")},
    "gp_bs20": {"component": "globalpointer_ner", "label": "GlobalPointer, boundary smoothing 0.2",
                "overrides": _boundary_smoothing("0.2")},
}
DEFAULT_VARIANTS = {True: ["gp", "egp", "ner", "spancat"], False: ["gp", "egp", "spancat"]}


def variant_names(variants: str, spec: dict) -> List[str]:
    """The comma-separated --variants, or the corpus' default set."""
    return [v for v in variants.split(",") if v] or DEFAULT_VARIANTS[spec["flat"]]


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _load_docs(path: Path, lang: str):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank(lang)
    return nlp, list(DocBin().from_disk(path).get_docs(nlp.vocab))


def span_coverage(path: Path, lang: str, min_size: int, max_size: int) -> dict:
    """Share of the gold spans (in spaCy's tokens for the language) that the
    spancat suggester can propose."""
    nlp, docs = _load_docs(path, lang)
    lengths = Counter()
    for doc in docs:
        tokens = nlp.make_doc(doc.text)
        for span in doc.spans.get(SPANS_KEY, []):
            aligned = tokens.char_span(span.start_char, span.end_char, alignment_mode="expand")
            lengths[len(aligned)] += 1
    n = sum(lengths.values())
    reach = sum(c for length, c in lengths.items() if min_size <= length <= max_size)
    return {"min_size": min_size, "max_size": max_size, "gold_spans": n, "reachable": reach,
            "share": reach / n if n else 0.0, "max_gold_len": max(lengths) if lengths else 0}


def dev_curve(log_jsonl: Path, dev_words: int) -> dict:
    """The dev score of every evaluation, the best one, and training speed:
    words / (interval time - the time of the dev evaluation in it)."""
    recs = read_jsonl(log_jsonl)
    rates = []
    for a, b in zip(recs, recs[1:]):
        speed = (b.get("other_scores") or {}).get("speed") or 0
        eval_s = dev_words / speed if speed else 0.0
        if b["words"] > a["words"] and b["t"] - a["t"] - eval_s > 0:
            rates.append((b["words"] - a["words"]) / (b["t"] - a["t"] - eval_s))
    curve = [{"step": r["step"], "score": r["score"], "t": r["t"], "words": r["words"]} for r in recs]
    best = max(curve, key=lambda r: r["score"]) if curve else None
    return {"curve": curve, "best_step": best["step"] if best else None,
            "best_dev": best["score"] if best else None,
            "train_wps_median": statistics.median(rates) if rates else None}


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="Trained pipeline folder"),
    data: Path = typer.Argument(..., help="Held-out .spacy file"),
    output: Path = typer.Option(..., "--output"),
    ents: bool = typer.Option(False, "--ents", help="Score doc.ents (else doc.spans['sc'])"),
) -> None:
    """(Internal, run as a subprocess) P/R/F overall and per type, in characters."""
    import spacy
    from spacy.tokens import DocBin

    one_thread()
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    predicted = nlp.pipe(fresh_docs(nlp.vocab, gold), batch_size=nlp.batch_size)
    result = score_spans(((span_tuples(pred.ents if ents else pred.spans.get(SPANS_KEY, [])),
                           span_tuples(ref.spans.get(SPANS_KEY, []))) for ref, pred in zip(gold, predicted)),
                         per_type=True)
    result["peak_rss_mib"] = peak_rss_mib()
    write_json(output, result)


def _result_path(out_dir: Path, corpus: str, tag: str) -> Path:
    return out_dir / f"{corpus}{'_' + tag if tag else ''}.json"


def _save_run(path: Path, header: dict, variant: str, label: str, seed: int, entry: dict) -> None:
    """Merge one run into the corpus JSON, re-reading it first: another `run`
    of the same corpus may have written other runs in the meantime."""
    def merge(result: dict) -> None:
        result.update(header)
        slot = result.setdefault("variants", {}).setdefault(variant, {"label": label, "runs": {}})
        slot["label"] = label
        slot["runs"][str(seed)] = entry

    update_json(path, merge)


@app.command()
def run(
    corpus: str = typer.Argument(..., help="Corpus name: " + ", ".join(CORPORA)),
    corpus_dir: Path = typer.Option(..., "--corpus-dir", help="Folder with train/dev/test.spacy"),
    variants: str = typer.Option("", "--variants", help="Comma-separated; default: gp,egp,(ner,)spancat"),
    seeds: str = typer.Option("0,1,2", "--seeds"),
    steps: Optional[int] = typer.Option(None, "--steps", help="Default: the corpus' budget (CORPORA)"),
    eval_frequency: int = typer.Option(200, "--eval-frequency"),
    runs_dir: Path = typer.Option(PROJECT / "benchmarks/runs", "--runs-dir"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    tag: str = typer.Option("", "--tag", help="Keep these runs apart (RUNS_DIR/CORPUS_TAG, OUT_DIR/CORPUS_TAG.json)"),
    force: bool = typer.Option(False, "--force", help="Re-run runs already in the JSON"),
    score_split: str = typer.Option("test", "--score-split", help="Split model-best is scored on: "
                                    "test for the reported figures, dev when choosing settings"),
    regime: str = typer.Option("cpu", "--regime", help="Encoder of every component: " + ", ".join(REGIMES)
                               + "; a pretrained regime's runs go to OUT_DIR/CORPUS_REGIME.json"),
    vectors_model: str = typer.Option(DEFAULT_MODELS["vectors"], "--vectors-model",
                                      help="en_core_web_md (a package name or a path, from project/)"),
    transformer_model: str = typer.Option(DEFAULT_MODELS["transformer"], "--transformer-model",
                                          help="all-MiniLM-L6-v2 (a hub name or a path, from project/)"),
    sets: List[str] = typer.Option([], "--set", help="SECTION.KEY=VALUE: an override every component of "
                                   "the run gets alike (e.g. training.optimizer.use_averages=true); needs --tag"),
) -> None:
    """Train every variant once per seed on CORPUS, evaluate model-best on test."""
    spec = CORPORA[corpus]
    if sets and not tag:
        sys.exit("--set changes what every component trains with: keep those runs apart with --tag")
    shared = shared_overrides(sets)
    steps = steps or spec["steps"]
    if regime not in REGIMES:
        sys.exit(f"unknown regime {regime!r}: choose one of {', '.join(REGIMES)}")
    model = {"vectors": vectors_model, "transformer": transformer_model}.get(REGIMES[regime]["model"])
    tag = regime_tag(regime, tag)
    names = variant_names(variants, spec)
    if not spec["flat"] and "ner" in names:
        sys.exit("ner is for flat corpora only")
    splits = {s: corpus_dir / f"{s}.spacy" for s in ("train", "dev", "test")}
    for path in splits.values():
        if not path.exists():
            sys.exit(f"missing {path}: run the convert step first")
    configs = sorted({config_of(VARIANTS[n]["component"], spec["family"], regime) for n in names})
    differ = differing_blocks(configs, regime_overrides(regime, steps, model) + shared)
    if differ:
        sys.exit(f"the configs {', '.join(rel(c) for c in configs)} differ in {', '.join(differ)}: "
                 "every component of a run must share the tokenizer, encoder and schedule")
    key = f"{corpus}_{tag}" if tag else corpus
    result_path = _result_path(out_dir, corpus, tag)
    out_dir.mkdir(parents=True, exist_ok=True)
    _, dev_docs = _load_docs(splits["dev"], spec["lang"])
    smin, smax = spec["spancat"]
    header = {
        "corpus": corpus, "key": key, "title": spec["title"], "flat": spec["flat"], "lang": spec["lang"],
        "family": spec["family"], "regime": regime, "encoder": REGIMES[regime]["encoder"], "model": model,
        "corpus_dir": rel(corpus_dir), "versions": versions(),
        "machine": machine(), "dev_words": sum(len(d) for d in dev_docs),
        "spancat_coverage_train": span_coverage(splits["train"], spec["lang"], smin, smax),
        "shared_overrides": shared,
    }
    done = read_json(result_path, default={}).get("variants", {})
    for name in names:
        variant = VARIANTS[name]
        component = variant["component"]
        for seed in (int(s) for s in seeds.split(",") if s):
            prev = done.get(name, {}).get("runs", {}).get(str(seed))
            if prev and not force and prev.get("steps") == steps and prev.get("status") == "ok":
                print(f"[{key}/{name}/seed {seed}] done already, skipping (--force to redo)")
                continue
            out = runs_dir / key / f"{name}_s{seed}"
            log_jsonl = out / "train_log.jsonl"
            cmd = [PY, "-m", "spacy", "train", rel(config_of(component, spec["family"], regime)),
                   "--code", "scripts/bench_logger.py", "--output", rel(out),
                   "--paths.train", rel(splits["train"]), "--paths.dev", rel(splits["dev"]),
                   "--system.seed", str(seed), "--training.max_steps", str(steps),
                   "--training.patience", "0", "--training.eval_frequency", str(eval_frequency),
                   "--training.logger.@loggers", "spacy-globalpointer.bench.JsonlLogger.v1",
                   "--training.logger.output_file", rel(log_jsonl)]
            if spec["family"] == "words":
                cmd += ["--nlp.lang", spec["lang"]]
            if component == "globalpointer_ner" and spec["flat"]:
                cmd += ["--vars.annotate_ents", "true"]
            if component == "spancat":
                cmd += ["--vars.suggester_min_size", str(smin), "--vars.suggester_max_size", str(smax)]
            cmd += regime_overrides(regime, steps, model) + shared + variant["overrides"]
            print(f"[{key}/{name}/seed {seed}] training", flush=True)
            git_at_start, started = git(), time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            trained = run_measured(cmd, out / "train.log")
            entry = {"steps": steps, "seed": seed, "component": component, "git": git_at_start, "started": started,
                     "train_cmd": shown_cmd(cmd), "train_wall_s": trained["wall_s"],
                     "train_peak_rss_mib": trained["peak_rss_mib"]}
            if trained["rc"] != 0:
                entry["status"] = f"train failed rc={trained['rc']} (see {rel(out / 'train.log')})"
                print(f"[{key}/{name}/seed {seed}] {entry['status']}", flush=True)
                _save_run(result_path, header, name, variant["label"], seed, entry)
                continue
            entry.update(dev_curve(log_jsonl, header["dev_words"]))
            scored_ents = component == "ner" or (component == "globalpointer_ner" and spec["flat"])
            ecmd = script_cmd("benchmark", "evaluate", rel(out / "model-best"), rel(splits[score_split]),
                              "--output", rel(out / "test.json")) + (["--ents"] if scored_ents else [])
            evaluated = run_measured(ecmd, out / "eval.log")
            if evaluated["rc"] != 0:
                entry["status"] = f"eval failed rc={evaluated['rc']} (see {rel(out / 'eval.log')})"
            else:
                entry["test"] = read_json(out / "test.json")
                entry["scored"] = "doc.ents" if scored_ents else f"doc.spans['{SPANS_KEY}']"
                entry["scored_split"] = score_split
                entry["eval_cmd"] = shown_cmd(ecmd)
                entry["status"] = "ok"
                print(f"[{key}/{name}/seed {seed}] test F={entry['test']['f']:.4f} (best dev "
                      f"{entry['best_dev']:.4f} at step {entry['best_step']}), train "
                      f"{entry['train_wps_median'] or 0:.0f} w/s", flush=True)
            _save_run(result_path, header, name, variant["label"], seed, entry)
    report(out_dir=out_dir, output=None, regime=regime)


@app.command()
def speed(
    corpus: str = typer.Argument(..., help="Corpus name (reads OUT_DIR/CORPUS[_TAG].json)"),
    rounds: int = typer.Option(5, "--rounds"),
    seed: int = typer.Option(0, "--seed", help="Whose models to time"),
    runs_dir: Path = typer.Option(PROJECT / "benchmarks/runs", "--runs-dir"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    tag: str = typer.Option("", "--tag"),
) -> None:
    """Inference speed of the trained variants of CORPUS, interleaved in one
    process (one pass of each pipeline, then of its tok2vec alone, per round)
    so that a changing load on a shared machine hits all of them alike."""
    import spacy
    from spacy.tokens import DocBin

    one_thread()
    path = _result_path(out_dir, corpus, tag)
    result = read_json(path)
    key = result["key"]
    names = [n for n, v in result["variants"].items() if v["runs"].get(str(seed), {}).get("status") == "ok"]
    nlps = {n: spacy.load(runs_dir / key / f"{n}_s{seed}" / "model-best") for n in names}
    vocab = next(iter(nlps.values())).vocab
    test = list(DocBin().from_disk(PROJECT / result["corpus_dir"] / "test.spacy").get_docs(vocab))
    n_words = sum(len(d) for d in test)
    measures = {}
    for n, nlp in nlps.items():
        component = result["variants"][n]["runs"][str(seed)]["component"]
        measures[(n, "whole")] = lambda nlp=nlp: timed_pipe(nlp, test, nlp.batch_size)
        measures[(n, "tok2vec")] = lambda nlp=nlp, c=component: timed_pipe(nlp, test, nlp.batch_size, [c])
    times = interleaved(measures, rounds)
    # Re-read: a `run` of this corpus may have saved runs while we measured.
    result = read_json(path)
    result["speed"] = {"rounds": rounds, "seed": seed, "test_words": n_words,
                       "cmd": f"python -m scripts.benchmark speed {corpus} --rounds {rounds}" + (f" --tag {tag}" if tag else ""),
                       "variants": {}}
    for n in names:
        whole, alone = times[(n, "whole")], times[(n, "tok2vec")]
        result["speed"]["variants"][n] = {"infer_wps": n_words / whole, "tok2vec_only_wps": n_words / alone,
                                          "head_overhead": alone and whole / alone - 1.0}
        print(f"{n}: {n_words / whole:,.0f} words/s, tok2vec alone {n_words / alone:,.0f}, "
              f"head adds {100 * (whole / alone - 1):.0f}%")
    write_json(path, result)
    report(out_dir=out_dir, output=None, regime=result.get("regime", "cpu"))


def _variant_overrides(name: str, spec: dict) -> Dict[str, object]:
    """The config overrides `run` passes for a variant on a corpus, as a dict."""
    variant = VARIANTS[name]
    component = variant["component"]
    overrides: Dict[str, object] = {}
    if spec["family"] == "words":
        overrides["nlp.lang"] = spec["lang"]
    if component == "globalpointer_ner" and spec["flat"]:
        overrides["vars.annotate_ents"] = True
    if component == "spancat":
        overrides["vars.suggester_min_size"], overrides["vars.suggester_max_size"] = spec["spancat"]
    overrides.update(_flags_to_overrides(variant["overrides"]))
    return overrides


@app.command("partial-corpus")
def partial_corpus(
    corpus_dir: Path = typer.Argument(..., help="Folder with train/dev/test.spacy of a flat corpus"),
    out_dir: Path = typer.Argument(..., help="Writes OUT_DIR/missing and OUT_DIR/unmarked"),
    share: float = typer.Option(0.5, "--share", help="Share of the training entities removed"),
    seed: int = typer.Option(0, "--seed", help="Which entities are removed"),
) -> None:
    """Partial annotation: copies of a flat corpus whose TRAIN split lacks a
    share of its gold entities (the same ones in both), once with their tokens
    marked as missing annotation (IOB "", what an annotation tool hands over)
    and once unmarked (the tokens are O: the entities look like negatives).
    dev and test keep the full gold, so model-best and the test F measure the
    same thing as the full-gold runs."""
    import random
    import shutil

    from spacy.tokens import DocBin, Span

    rng = random.Random(seed)
    nlp, docs = _load_docs(corpus_dir / "train.spacy", "xx")
    out = {"missing": [], "unmarked": []}
    kept = removed = 0
    for doc in docs:
        ents = list(doc.ents)
        drop = [rng.random() < share for _ in ents]
        keep = [e for e, d in zip(ents, drop) if not d]
        holes = [e for e, d in zip(ents, drop) if d]
        kept, removed = kept + len(keep), removed + len(holes)
        for mode in out:
            copy = doc.copy()
            gold = [Span(copy, e.start, e.end, label=e.label) for e in keep]
            missing = [copy[e.start : e.end] for e in holes] if mode == "missing" else []
            copy.set_ents(gold, missing=missing, default="outside")
            copy.spans[SPANS_KEY] = list(copy.ents)
            out[mode].append(copy)
    for mode, mode_docs in out.items():
        folder = out_dir / mode
        folder.mkdir(parents=True, exist_ok=True)
        DocBin(docs=mode_docs, store_user_data=True).to_disk(folder / "train.spacy")
        for split in ("dev", "test"):
            shutil.copyfile(corpus_dir / f"{split}.spacy", folder / f"{split}.spacy")
    print(f"train: {len(docs)} docs, {kept} entities kept, {removed} removed "
          f"({removed / max(kept + removed, 1):.1%}); wrote {rel(out_dir)}/missing and /unmarked")


PARTIAL_CONDITIONS = {
    "full": "full gold",
    "missing": "half of the entities removed, their tokens marked missing",
    "unmarked": "half of the entities removed, unmarked (their tokens O)",
}


@app.command("partial-report")
def partial_report(
    corpus: str = typer.Argument("cluener"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks/partial", "--out-dir"),
) -> None:
    """OUT_DIR/PARTIAL.md: test F of the partial-annotation runs
    (`partial-corpus`, then `run --tag partial_<condition>`), per condition."""
    from wasabi import MarkdownRenderer

    md = MarkdownRenderer()
    md.add(md.title(1, f"Partial annotation: {corpus}, half of the training entities removed"))
    md.add(
        "Generated by `python -m scripts.benchmark partial-report` from "
        f"`benchmarks/partial/{corpus}_partial_<condition>.json` (the runs' commands are there). "
        "globalpointer_ner, the CPU config, the same steps and seeds in every condition; the same "
        "entities (seed 0 of `partial-corpus`) are removed in both partial conditions; model-best "
        "on the full-gold dev split, F on the full-gold test split (exact spans of doc.ents)."
    )
    rows, means = [], {}
    for condition, title in PARTIAL_CONDITIONS.items():
        path = _result_path(out_dir, corpus, f"partial_{condition}")
        if not path.exists():
            continue
        runs = _ok_runs(read_json(path)["variants"]["gp"])
        f, sd = mean_sd([100 * r["test"]["f"] for r in runs])
        p, _ = mean_sd([100 * r["test"]["p"] for r in runs])
        rec, _ = mean_sd([100 * r["test"]["r"] for r in runs])
        means[condition] = f
        rows.append((title, str(len(runs)), f"{_fmt(f)} ± {_fmt(sd)}", _fmt(p), _fmt(rec),
                     ", ".join(str(r["best_step"]) for r in runs),
                     ", ".join(f"{100 * r['test']['f']:.1f}" for r in runs)))
    md.add(md.table(rows, ["training data", "seeds", "test F mean ± sd", "P", "R", "best step per seed",
                           "test F per seed"], aligns=("l", "r", "l", "r", "r", "l", "l")))
    if {"full", "missing", "unmarked"} <= set(means):
        md.add(
            f"Marking the unannotated regions as missing recovers "
            f"{_fmt(means['missing'] - means['unmarked'])} F over leaving them unmarked; it stays "
            f"{_fmt(means['full'] - means['missing'])} F below training on the full gold."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "PARTIAL.md").write_text(md.text + "\n", encoding="utf8")
    print(md.text)


@app.command("train-speed")
def train_speed(
    corpus: str = typer.Argument(..., help="Corpus name: " + ", ".join(CORPORA)),
    corpus_dir: Path = typer.Option(..., "--corpus-dir"),
    variants: str = typer.Option("", "--variants", help="Default: gp,egp,(ner,)spancat"),
    batches: int = typer.Option(30, "--batches", help="Timed batches per component"),
    batch_words: int = typer.Option(1000, "--batch-words", help="1000: the schedule's size after ~2300 steps"),
    warmup: int = typer.Option(5, "--warmup", help="Untimed batches first"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    tag: str = typer.Option("", "--tag"),
) -> None:
    """Training words/s of the components side by side: each built from its
    config, all updated in turn on the same batches in one process (so a load
    change hits all alike); the median per-batch rate of each."""
    import random

    import spacy
    from spacy.training import Corpus
    from spacy.training.batchers import minibatch_by_words
    from spacy.util import load_config, registry
    from thinc.api import fix_random_seed

    one_thread()
    spec = CORPORA[corpus]
    names = variant_names(variants, spec)
    pipelines = {}
    for name in names:
        component = VARIANTS[name]["component"]
        config = load_config(CONFIGS[(component, spec["family"])], overrides=_variant_overrides(name, spec),
                             interpolate=False)
        fix_random_seed(0)
        nlp = spacy.util.load_model_from_config(config, auto_fill=True)
        examples = list(Corpus(corpus_dir / "train.spacy")(nlp))
        nlp.initialize(lambda: examples)
        optimizer = registry.resolve({"o": config.interpolate()["training"]["optimizer"]})["o"]
        random.Random(0).shuffle(examples)
        chosen = list(minibatch_by_words(examples, size=batch_words))[: warmup + batches]
        pipelines[name] = (nlp, optimizer, chosen)
    rates: Dict[str, List[float]] = {name: [] for name in names}
    for i in range(warmup + batches):
        for name, (nlp, optimizer, chosen) in pipelines.items():
            batch = chosen[i % len(chosen)]
            start = time.perf_counter()
            nlp.update(batch, sgd=optimizer, drop=0.1)
            if i >= warmup:
                rates[name].append(sum(len(eg.predicted) for eg in batch) / (time.perf_counter() - start))
    path = _result_path(out_dir, corpus, tag)
    result = read_json(path, default={"corpus": corpus, "key": corpus, "variants": {}})
    result["train_speed"] = {
        "batches": batches, "batch_words": batch_words, "warmup": warmup, "load_average": os.getloadavg(),
        "cmd": f"python -m scripts.benchmark train-speed {corpus} --corpus-dir {rel(corpus_dir)}",
        "variants": {name: {"train_wps": statistics.median(r), "per_batch": r} for name, r in rates.items()},
    }
    write_json(path, result)
    for name, r in rates.items():
        print(f"{name}: {statistics.median(r):,.0f} training words/s")
    report(out_dir=out_dir, output=None, regime=result.get("regime", "cpu"))


# ---------------------------------------------------------------------------
# Report


def _ok_runs(variant: dict) -> List[dict]:
    return [r for r in variant["runs"].values() if r.get("status") == "ok"]


def _at_twice_best(run: dict) -> Optional[float]:
    """Dev score at the first evaluation at or after twice the best step, minus
    the best dev score; None if training stopped before that step."""
    best_step = run.get("best_step") or 0
    later = [r for r in run["curve"] if r["step"] >= 2 * best_step]
    if not later or best_step == 0:
        return None
    return later[0]["score"] - run["best_dev"]


def summarise(variant: dict) -> dict:
    """Mean, spread and per-seed figures of one variant's runs."""
    runs = _ok_runs(variant)
    f = [100 * r["test"]["f"] for r in runs]
    mean, sd = mean_sd(f)
    drops = [_at_twice_best(r) for r in runs]
    return {
        "n": len(runs), "f_mean": mean, "f_sd": sd, "f_min": min(f) if f else None, "f_max": max(f) if f else None,
        "p_mean": mean_sd([100 * r["test"]["p"] for r in runs])[0],
        "r_mean": mean_sd([100 * r["test"]["r"] for r in runs])[0],
        "dev_mean": mean_sd([100 * r["best_dev"] for r in runs])[0],
        "best_steps": [r["best_step"] for r in runs],
        "drop_2x": [None if d is None else 100 * d for d in drops],
        "train_wps": statistics.median([r["train_wps_median"] for r in runs if r.get("train_wps_median")] or [0]),
        "train_wall": statistics.median([r["train_wall_s"] for r in runs] or [0]),
        "train_rss": max([r["train_peak_rss_mib"] for r in runs] or [0]),
        "per_type": {label: statistics.mean(100 * r["test"]["per_type"].get(label, {"f": 0})["f"] for r in runs)
                     for label in sorted({lab for r in runs for lab in r["test"]["per_type"]})},
    }


def _fmt(x, nd=1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _shared_overrides_note(flags: Optional[List[str]]) -> str:
    """' Every run here also had `--a.b 1` (`--set`).' for the override flags
    a run's --set gave every component alike; "" for none."""
    return f" Every run here also had `{' '.join(flags)}` (`--set`)." if flags else ""


def _test_f_cell(summary: dict) -> str:
    """Test F as 'mean ± sd (min-max)'; one run has no spread: its F alone."""
    if summary["n"] == 1:
        return f"**{_fmt(summary['f_mean'])}** (one run)"
    return (f"**{_fmt(summary['f_mean'])}** ± {_fmt(summary['f_sd'])} "
            f"({_fmt(summary['f_min'])}-{_fmt(summary['f_max'])})")


# GlobalPointer's margin over the better spaCy peer that the issues ask for,
# (flat, nested), per regime: issue 19 for the pretrained ones.
MARGINS = {"cpu": (2.0, 5.0), "minilm": (1.0, 2.0), "vectors": (0.0, 0.0)}
# Seeds per component the protocol asks for before a target is judged.
PROTOCOL_SEEDS = 3


def _targets(results: Dict[str, dict], regime: str = "cpu") -> List[tuple]:
    """The issue's targets, from the summaries: (target, measured, result) rows."""
    lines = []

    def verdict(ok):
        return "HIT" if ok else "MISSED"

    for key, res in results.items():
        s = {n: summarise(v) for n, v in res["variants"].items() if _ok_runs(v)}
        gp = s.get("gp")
        if not gp:
            continue
        peers = {n: s[n]["f_mean"] for n in ("ner", "spancat") if n in s}
        if peers:
            best_name = max(peers, key=peers.get)
            best = peers[best_name]
            margin = MARGINS[regime][0 if res["flat"] else 1]
            # A comparison short of a peer or of seeds is reported, not judged final.
            missing = [n for n in (("ner", "spancat") if res["flat"] else ("spancat",)) if n not in s]
            fewest = min(s[n]["n"] for n in ["gp", *peers])
            # The issues judge a ranking where every component stopped improving.
            climbing = sum(1 for n in ["gp", *peers] for r in _ok_runs(res["variants"][n]) if _still_climbing(r))
            caveats = ([f"{', '.join(missing)} not run"] if missing else []) + (
                [f"{seeds_phrase(fewest)} of {PROTOCOL_SEEDS}"] if fewest < PROTOCOL_SEEDS else []) + (
                [f"not converged: {climbing} of the runs still climbing"] if climbing else [])
            caveat = f" (provisional: {'; '.join(caveats)})" if caveats else ""
            if margin:
                lines.append((f"{key}: GP F >= best spaCy peer + {margin:.0f}",
                              f"GP {gp['f_mean']:.1f} vs {best_name} {best:.1f} ({gp['f_mean'] - best:+.1f})",
                              verdict(gp['f_mean'] >= best + margin) + caveat))
            lines.append((f"{key}: GP never below the better peer", f"{gp['f_mean'] - best:+.1f}",
                          verdict(gp['f_mean'] >= best) + caveat))
        drops = [d for d in gp["drop_2x"] if d is not None]
        if drops:
            worst = min(drops)
            lines.append((f"{key}: dev F at 2x the best step within 1 point of the best",
                          f"per seed {', '.join(_fmt(d) for d in gp['drop_2x'])}", verdict(worst >= -1.0)))
        else:
            lines.append((f"{key}: dev F at 2x the best step within 1 point of the best",
                          f"best steps {gp['best_steps']}: 2x is past the budget", "not measurable"))
        trained = res.get("train_speed", {}).get("variants", {})
        for peer, wanted in (("ner", 1.0), ("spancat", 1.0)):
            if "gp" in trained and peer in trained:
                ratio = trained["gp"]["train_wps"] / trained[peer]["train_wps"]
                lines.append((f"{key}: GP training words/s vs {peer} (interleaved)",
                              f"{trained['gp']['train_wps']:,.0f} vs {trained[peer]['train_wps']:,.0f} ({ratio:.2f}x)",
                              f"{verdict(ratio >= wanted)} (>= {wanted:.1f}x)"))
        speed = res.get("speed", {}).get("variants", {})
        if "gp" in speed and "ner" in speed:
            ratio = speed["gp"]["infer_wps"] / speed["ner"]["infer_wps"]
            lines.append((f"{key}: GP inference words/s vs spaCy ner", f"{ratio:.2f}x",
                          f"{verdict(ratio >= 1.3)} (>= 1.3x)"))
    return lines


CLIMBING_AFTER = 2 / 3  # a best dev step after this share of the budget: still climbing
REACH_SHARE = 0.95  # learning speed: steps to this share of the lowest best dev F of the components


def learning_speed(res: dict) -> Tuple[float, List[tuple]]:
    """Steps (and wall seconds since the start of training, evaluations
    included) each component's runs need to reach REACH_SHARE of the lowest
    mean best dev F among the components: (that F, rows)."""
    summaries = {n: summarise(v) for n, v in res["variants"].items() if _ok_runs(v)}
    if not summaries:
        return 0.0, []
    target = REACH_SHARE * min(s["dev_mean"] for s in summaries.values()) / 100
    rows = []
    for name in summaries:
        steps, seconds = [], []
        for seed, run_ in sorted(res["variants"][name]["runs"].items()):
            if run_.get("status") != "ok":
                continue
            reached = next((point for point in run_["curve"] if point["score"] >= target), None)
            steps.append(f"s{seed}: {reached['step'] if reached else 'never'}")
            if reached:
                seconds.append(reached["t"])
        rows.append((f"{res['variants'][name]['label']} (`{name}`)", ", ".join(steps),
                     f"{statistics.median(seconds):,.0f}" if seconds else "-"))
    return 100 * target, rows


def _still_climbing(run: dict) -> bool:
    """Whether the run's best dev step is after CLIMBING_AFTER of its steps."""
    return run.get("best_step") is not None and run["best_step"] > CLIMBING_AFTER * run["steps"]


def _last_third_gain(run: dict) -> Optional[float]:
    """How much the best dev F rose after two thirds of the run's steps: the
    best dev F minus the best up to that point (None without a curve there)."""
    early = [point["score"] for point in run.get("curve", []) if point["step"] <= CLIMBING_AFTER * run["steps"]]
    if not early or run.get("best_dev") is None:
        return None
    return run["best_dev"] - max(early)


def _best_step_cell(run: dict) -> str:
    """The run's best dev step, flagged when it is after two thirds of its
    steps, with what the last third added to the best dev F: a late best
    that adds a few tenths is a plateau, one that adds points is a climb."""
    step = run.get("best_step")
    if not _still_climbing(run):
        return f"{step}"
    gain = _last_third_gain(run)
    return f"{step} (still climbing{'' if gain is None else f', +{100 * gain:.1f} in the last third'})"


def _old_spelling_note(commands: List[str]) -> str:
    """What a reader of recorded commands needs to know if one of them uses
    the scripts' old spelling; "" if none does."""
    if any("python scripts/" in cmd for cmd in commands):
        return "as recorded: `python scripts/X.py` is `python -m scripts.X` since the scripts became a package"
    return ""


def _encoder_speed_section(out_dir: Path, regime: str) -> List[str]:
    """Training and inference speed of every component on the regime's
    encoder, measured side by side by `benchmark_trf` (its JSON,
    OUT_DIR/transformer_<REGIME>.json), where it exists."""
    path = out_dir / f"transformer_{regime}.json"
    if regime == "cpu" or not path.exists():
        return []
    data = read_json(path)
    meta = data["meta"]
    rows = [(name, f"{v['train_wps']:,.0f}", f"{v['infer_wps']:,.0f}", f"{100 * v['head_share']:.1f}%")
            for name, v in data["results"].items()]
    note = _old_spelling_note([meta["cmd"]])
    return ["## Speed on this encoder", "",
            f"Every component on the same {meta['batch_words']}-word training batches ({meta['batches']}, median) "
            f"and the same {meta['dev_docs']} dev docs ({meta['dev_words']:,} words, {meta['rounds']} interleaved "
            f"rounds, medians), one process, one thread (`{meta['cmd']}`" + (f", {note}" if note else "")
            + f"; method and the encoder-alone figures in `{path.stem.upper()}.md`). The head's share: the "
            "component's own time over the pipeline's, in inference. (The per-run train words/s above come from "
            "whole training runs beside other jobs.)", "",
            md_table(rows, ["component", "train words/s", "infer words/s", "head share of inference"], "lrrr"),
            ""]


@app.command()
def report(
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    output: Optional[Path] = typer.Option(None, "--output", help="Default: OUT_DIR/RESULTS.md, "
                                          "OUT_DIR/RESULTS_<REGIME>.md for a pretrained regime"),
    regime: str = typer.Option("cpu", "--regime", help="Whose results: " + ", ".join(REGIMES)),
) -> None:
    """Write RESULTS.md (RESULTS_<REGIME>.md) from the OUT_DIR/*.json of the regime."""
    results = {}
    for path in sorted(out_dir.glob("*.json")):
        data = read_json(path)
        if data.get("regime", "cpu") != regime:
            continue
        if isinstance(data.get("variants"), dict) and all("runs" in v for v in data["variants"].values()):
            results[data["key"]] = data
    order = {name: i for i, name in enumerate(CORPORA)}
    results = dict(sorted(results.items(), key=lambda kv: (order.get(kv[1]["corpus"], 99), kv[0])))
    if regime == "cpu":
        lines = ["# Benchmark: globalpointer_ner vs spaCy ner / spancat", "",
                 "Generated by `python -m scripts.benchmark report` from `benchmarks/<corpus>.json` (every run's "
                 "figures, dev curves and commands are there). Protocol: see the docstring of "
                 "`scripts/benchmark.py` and `benchmarks/notes.md`.", ""]
    else:
        lines = [f"# Benchmark, pretrained encoder: {REGIMES[regime]['encoder']}", "",
                 f"Generated by `python -m scripts.benchmark report --regime {regime}` from "
                 f"`benchmarks/<corpus>_{regime}.json` (every run's figures, dev curves and commands are there). "
                 "Protocol: see the docstring of `scripts/benchmark.py`. Every component shares the encoder, "
                 "schedule, steps and patience (0). A best dev step after two thirds of the steps is flagged "
                 "*still climbing*: that component had not stopped improving within the budget (with what the last "
                 "third of the steps added to its best dev F).", ""]
    if results:
        any_res = next(iter(results.values()))
        lines += ["- Versions: " + ", ".join(f"{k} {v}" for k, v in any_res["versions"].items()),
                  f"- Machine: {any_res['machine']['cpu']}, {any_res['machine']['cpu_count']} cores shared with "
                  "other jobs, no GPU; every process 1 thread.", ""]
    for key, res in results.items():
        summaries = {n: summarise(v) for n, v in res["variants"].items() if _ok_runs(v)}
        steps = sorted({r["steps"] for v in res["variants"].values() for r in _ok_runs(v)})
        cov = res.get("spancat_coverage_train", {})
        lines += [f"## {res.get('title', key)}: `{key}`", "",
                  f"{', '.join(map(str, steps))} steps per run, patience 0, model-best chosen on dev, scored on "
                  f"test. spancat suggester n-grams {cov.get('min_size')}-{cov.get('max_size')}: reaches "
                  f"{100 * cov.get('share', 0):.1f}% of the gold train spans (longest {cov.get('max_gold_len')} "
                  "tokens)." + _shared_overrides_note(res.get("shared_overrides")), ""]
        best_steps = {name: ", ".join(str(x) for x in s["best_steps"]) for name, s in summaries.items()}
        if regime != "cpu":  # per run, in seed order, flagged when still climbing
            best_steps = {name: ", ".join(f"s{seed}: {_best_step_cell(r)}" for seed, r in
                                          sorted(res["variants"][name]["runs"].items()) if r.get("status") == "ok")
                          for name in summaries}
        rows = [(f"{res['variants'][name]['label']} (`{name}`)", s["n"],
                 _test_f_cell(s),
                 _fmt(s["p_mean"]), _fmt(s["r_mean"]), _fmt(s["dev_mean"]), best_steps[name],
                 ", ".join(_fmt(d) if d is not None else "past budget" for d in s["drop_2x"]),
                 f"{s['train_wps']:,.0f}", f"{s['train_wall']:,.0f}", f"{s['train_rss']:,.0f}")
                for name, s in summaries.items()]
        lines += [md_table(rows, ["component", "seeds", "test F mean ± sd (min-max)", "P", "R", "best dev F",
                                  "best step per seed", "dev F at 2x best step - best", "train words/s", "train s",
                                  "peak RSS train MiB"], "lrlrrrllrrr"), ""]
        if regime != "cpu":
            target, rows = learning_speed(res)
            lines += [f"Learning speed: the first evaluation at which dev F reaches {target:.1f} "
                      f"({100 * REACH_SHARE:.0f}% of the lowest mean best dev F of the components); seconds "
                      "since the start of training, evaluations included, median over the seeds (one thread, "
                      "the machine shared, so rough):", "",
                      md_table(rows, ["component", "step per seed", "seconds"], "llr"), ""]
        trained = res.get("train_speed")
        if trained:
            lines += [f"Training speed (`{trained['cmd']}`): every component updated in turn on the same "
                      f"{trained['batch_words']}-word batches in one process, median of {trained['batches']} "
                      "batches after a warm-up:", "",
                      md_table([(VARIANTS[name]["label"], f"{v['train_wps']:,.0f}")
                                for name, v in trained["variants"].items()], ["component", "training words/s"], "lr"),
                      ""]
        speed = res.get("speed")
        if speed:
            lines += [f"Inference (`{speed['cmd']}`, seed-{speed['seed']} models, test split, interleaved, median of "
                      f"{speed['rounds']} rounds):", "",
                      md_table([(res["variants"][name]["label"], f"{v['infer_wps']:,.0f}", f"{v['tok2vec_only_wps']:,.0f}",
                                 f"{100 * v['head_overhead']:.0f}%") for name, v in speed["variants"].items()],
                               ["component", "words/s", "tok2vec alone words/s", "head adds"], "lrrr"),
                      ""]
        labels = sorted({lab for s in summaries.values() for lab in s["per_type"]})
        if labels:
            lines += ["Per-type test F (mean over seeds):", "",
                      md_table([(label, *(_fmt(s["per_type"].get(label)) for s in summaries.values())) for label in labels],
                               ["type", *summaries], "l" + "r" * len(summaries)),
                      ""]
        commands = [cmd for variant in res["variants"].values() for run_ in _ok_runs(variant)[:1]
                    for cmd in (run_["train_cmd"], run_["eval_cmd"])]
        note = _old_spelling_note(commands)
        lines += ["Commands (from `project/`" + (f"; {note}" if note else "") + "):", "",
                  "```", *commands, "```", ""]
    lines += _encoder_speed_section(out_dir, regime)
    targets = _targets(results, regime)
    if targets:
        lines += ["## Targets", "", md_table(targets, ["target", "measured", "result"], "lll"), ""]
    notes = out_dir / ("notes.md" if regime == "cpu" else f"notes_{regime}.md")
    if notes.exists():  # hand-written observations, kept across regenerations
        lines += [notes.read_text(encoding="utf8").rstrip(), ""]
    curves = "learning_curves.png" if regime == "cpu" else f"learning_curves_{regime}.png"
    if (out_dir / curves).exists():
        lines += [f"![dev F per evaluation]({curves})", ""]
    output = output or out_dir / ("RESULTS.md" if regime == "cpu" else f"RESULTS_{regime}.md")
    output.write_text("\n".join(lines), encoding="utf8")
    print(f"wrote {rel(output)}")


if __name__ == "__main__":
    app()
