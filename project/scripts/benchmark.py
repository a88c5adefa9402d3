"""Side-by-side benchmark: globalpointer_ner vs spaCy's ner and spancat.

Every variant is trained with the same tok2vec, seed, batcher, optimizer,
dropout and number of steps (`--training.patience 0`, so all run exactly
`--steps`), one at a time, as subprocesses with OMP/BLAS/torch threads = 1.
Then each trained pipeline (model-last) is evaluated in a fresh subprocess:
entity-level P/R/F on the held-out split (overall and per type, exact
(start, end, label) matches against all gold spans in doc.spans[SPANS_KEY]),
inference speed (words/s, median of N passes over the pre-tokenized held-out
docs, batch size = nlp.batch_size), the same with the head disabled (tok2vec
alone: the floor), and the peak RSS of that process. Training peak RSS comes
from os.wait4 on the training process; training words/s is the median, over
the eval intervals of the training log, of words / (interval time - the
time of the dev evaluation in it).

    python scripts/benchmark.py run cluener --steps 2000
    python scripts/benchmark.py run cmeee --steps 1500 --variants gp,spancat
    python scripts/benchmark.py run cluener --steps 2000 --variants gp,gp_norope
    python scripts/benchmark.py report
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional

import typer

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
ROOT = PROJECT.parent
PY = sys.executable

CORPORA = {
    # flat: ner can be trained and GP also writes doc.ents.
    # heldout: split used for the reported figures (CLUENER has no labeled
    # test: its test.spacy is a copy of dev, so held-out = dev).
    "cluener": {"flat": True, "heldout": "dev", "spancat_sizes": (1, 12)},
    "cmeee": {"flat": False, "heldout": "test", "spancat_sizes": (1, 16)},
}

VARIANTS = {
    "gp": {"component": "globalpointer_ner", "config": ROOT / "configs/globalpointer_tok2vec.cfg",
           "label": "GlobalPointer", "overrides": []},
    "egp": {"component": "globalpointer_ner", "config": ROOT / "configs/globalpointer_tok2vec.cfg",
            "label": "EfficientGlobalPointer",
            "overrides": ["--components.globalpointer_ner.model.@architectures", "spacy-globalpointer.EfficientGlobalPointer.v1"]},
    "gp_norope": {"component": "globalpointer_ner", "config": ROOT / "configs/globalpointer_tok2vec.cfg",
                  "label": "GlobalPointer, no RoPE",
                  "overrides": ["--components.globalpointer_ner.model.use_rope", "false"]},
    "ner": {"component": "ner", "config": PROJECT / "configs/ner_tok2vec.cfg", "label": "spaCy ner",
            "overrides": []},
    "spancat": {"component": "spancat", "config": PROJECT / "configs/spancat_tok2vec.cfg",
                "label": "spaCy spancat", "overrides": []},
    # tok2vec ablation: spaCy's default MultiHashEmbed features instead of NORM/SHAPE 10000/500
    "gp_spacy_attrs": {"component": "globalpointer_ner", "config": ROOT / "configs/globalpointer_tok2vec.cfg",
                       "label": "GlobalPointer, tok2vec attrs NORM/PREFIX/SUFFIX/SHAPE",
                       "overrides": ["--components.tok2vec.model.embed.attrs", '["NORM","PREFIX","SUFFIX","SHAPE"]',
                                     "--components.tok2vec.model.embed.rows", "[5000,1000,2500,2500]"]},
}

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TORCH_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _rel(p: Path) -> str:
    """Path relative to project/ (the cwd of every command) when inside the repo."""
    p = Path(p).resolve()
    if p == ROOT or ROOT in p.parents:
        return os.path.relpath(p, PROJECT)
    return str(p)


def _tidy(cmd: str) -> str:
    return cmd.replace(str(HERE) + "/", "scripts/").replace(str(ROOT) + "/", "../")


def _env() -> dict:
    env = dict(os.environ)
    env.update(THREAD_ENV)
    return env


def _run_measured(cmd: List[str], log_path: Path, cwd: Path = PROJECT) -> dict:
    """Run cmd, tee-less: stdout+stderr to log_path. Returns rc, wall s, peak RSS (MiB)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log_path.open("w", encoding="utf8") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, env=_env())
        _, status, rusage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": p.returncode, "wall_s": time.perf_counter() - t0,
            "peak_rss_mib": rusage.ru_maxrss / 1024.0}


def _count_words(path: Path) -> int:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("zh")
    return sum(len(d) for d in DocBin().from_disk(path).get_docs(nlp.vocab))


def span_coverage(path: Path, spans_key: str, min_size: int, max_size: int) -> dict:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("zh")
    lens = Counter()
    for d in DocBin().from_disk(path).get_docs(nlp.vocab):
        lens.update(len(s) for s in d.spans.get(spans_key, []))
    n = sum(lens.values())
    reach = sum(c for l, c in lens.items() if min_size <= l <= max_size)
    return {"min_size": min_size, "max_size": max_size, "gold_spans": n,
            "reachable": reach, "share": reach / n if n else 0.0, "max_gold_len": max(lens) if lens else 0}


def train_speed(log_jsonl: Path, dev_words: int) -> dict:
    recs = [json.loads(l) for l in log_jsonl.read_text().splitlines() if l.strip()]
    rates, raw = [], []
    for a, b in zip(recs, recs[1:]):
        dw = b["words"] - a["words"]
        dt = b["t"] - a["t"]
        speed = (b.get("other_scores") or {}).get("speed") or 0
        ev = dev_words / speed if speed else 0.0
        if dw > 0 and dt - ev > 0:
            rates.append(dw / (dt - ev))
            raw.append(dw / dt)
    return {
        "train_wps_median": statistics.median(rates) if rates else None,
        "train_wps_incl_eval_median": statistics.median(raw) if raw else None,
        "intervals": len(rates),
        "train_words": recs[-1]["words"] if recs else 0,
        "log_seconds": recs[-1]["t"] if recs else 0,
        "first_eval_s": recs[0]["t"] if recs else 0,
        "history": [{"step": r["step"], "t": r["t"], "words": r["words"], "score": r["score"]} for r in recs],
    }


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="Trained pipeline folder"),
    data: Path = typer.Argument(..., help="Held-out .spacy file"),
    component: str = typer.Option(..., "--component", help="Name of the head in the pipeline"),
    output: Path = typer.Option(..., "--output"),
    spans_key: str = typer.Option("sc", "--spans-key"),
    passes: int = typer.Option(5, "--passes", help="Timed passes (after 1 warm-up)"),
) -> None:
    """(Internal, run as a subprocess) accuracy, speed, floor speed, peak RSS."""
    import resource

    import spacy
    from spacy.tokens import Doc, DocBin

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))

    def fresh():
        return [Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d])
                for d in gold_docs]

    n_words = sum(len(d) for d in gold_docs)
    # accuracy
    tp, fp, fn = Counter(), Counter(), Counter()
    for gold, pred in zip(gold_docs, nlp.pipe(fresh(), batch_size=nlp.batch_size)):
        g = {(s.start, s.end, s.label_) for s in gold.spans.get(spans_key, [])}
        if component == "ner":
            p = {(s.start, s.end, s.label_) for s in pred.ents}
        else:
            p = {(s.start, s.end, s.label_) for s in pred.spans.get(spans_key, [])}
        for x in p & g:
            tp[x[2]] += 1
        for x in p - g:
            fp[x[2]] += 1
        for x in g - p:
            fn[x[2]] += 1

    def prf(t, f_p, f_n):
        p = t / (t + f_p) if t + f_p else 0.0
        r = t / (t + f_n) if t + f_n else 0.0
        return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "support": t + f_n}

    labels = sorted(set(tp) | set(fp) | set(fn))
    acc = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    acc["per_type"] = {l: prf(tp[l], fp[l], fn[l]) for l in labels}

    def timed(nlp_) -> List[float]:
        out = []
        for i in range(passes + 1):
            docs = fresh()
            t0 = time.perf_counter()
            for _ in nlp_.pipe(docs, batch_size=nlp.batch_size):
                pass
            dt = time.perf_counter() - t0
            if i > 0:  # first pass is the warm-up
                out.append(n_words / dt)
        return out

    full = timed(nlp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with nlp.select_pipes(disable=[component]):
        floor = timed(nlp)
    res = {
        "accuracy": acc,
        "heldout_words": n_words,
        "heldout_docs": len(gold_docs),
        "infer_wps_median": statistics.median(full),
        "infer_wps_passes": full,
        "tok2vec_only_wps_median": statistics.median(floor),
        "tok2vec_only_wps_passes": floor,
        "head_overhead": statistics.median(floor) / statistics.median(full) - 1.0,
        "infer_peak_rss_mib": peak,
        "batch_size": nlp.batch_size,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(res, indent=2), encoding="utf8")


def _versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("spacy", "thinc", "torch", "numpy", "spacy-globalpointer"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # pragma: no cover
            out[pkg] = None
    return out


def _git() -> dict:
    """Read-only: the commit and the files that differ from it (editable install)."""
    def q(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip("\n")
        except OSError:
            return ""
    return {"head": q("rev-parse", "HEAD").strip(),
            "dirty": [l[3:] for l in q("status", "--porcelain", "--", "spacy_globalpointer").splitlines()]}


def _machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "memory": mem,
            "threads": "1 (OMP/OPENBLAS/MKL/torch)", "gpu": "none"}


def _save_variant(result_path: Path, result: dict, name: str, entry: dict) -> None:
    """Merge one variant into the JSON, re-reading it first: another `run` of the
    same corpus/tag may have written other variants in the meantime."""
    if result_path.exists():
        disk = json.loads(result_path.read_text())
        for k, e in disk.get("variants", {}).items():
            if k != name:
                result["variants"][k] = e
    result["variants"][name] = entry
    result_path.write_text(json.dumps(result, indent=2))


@app.command()
def run(
    corpus: str = typer.Argument(..., help="Corpus name: " + ", ".join(CORPORA)),
    steps: int = typer.Option(2000, "--steps", help="training.max_steps for every variant"),
    variants: str = typer.Option("", "--variants", help="Comma-separated; default: gp,egp,ner,spancat "
                                 "(ner only on flat corpora)"),
    corpus_dir: Optional[Path] = typer.Option(None, "--corpus-dir", help="Default: corpus/CORPUS"),
    spancat_min: Optional[int] = typer.Option(None, "--spancat-min"),
    spancat_max: Optional[int] = typer.Option(None, "--spancat-max"),
    eval_frequency: int = typer.Option(200, "--eval-frequency"),
    passes: int = typer.Option(5, "--passes", help="Timed inference passes"),
    runs_dir: Path = typer.Option(PROJECT / "benchmarks/runs", "--runs-dir"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    force: bool = typer.Option(False, "--force", help="Re-run variants already in the JSON"),
    tag: str = typer.Option("", "--tag", help="Keep these runs apart: RUNS_DIR/CORPUS_TAG/... and "
                            "OUT_DIR/CORPUS_TAG.json (e.g. --tag 6000 for a longer training budget)"),
) -> None:
    """Train + evaluate the variants on CORPUS; merge into OUT_DIR/CORPUS[_TAG].json."""
    spec = CORPORA[corpus]
    corpus_dir = corpus_dir or PROJECT / "corpus" / corpus
    train, dev = corpus_dir / "train.spacy", corpus_dir / "dev.spacy"
    heldout = corpus_dir / f"{spec['heldout']}.spacy"
    for p in (train, dev, heldout):
        if not p.exists():
            sys.exit(f"missing {p}: run the convert step first")
    names = [v for v in variants.split(",") if v] or (
        ["gp", "egp", "ner", "spancat"] if spec["flat"] else ["gp", "egp", "spancat"])
    if not spec["flat"] and "ner" in names:
        sys.exit("ner is for flat corpora only")
    smin = spancat_min if spancat_min is not None else spec["spancat_sizes"][0]
    smax = spancat_max if spancat_max is not None else spec["spancat_sizes"][1]
    out_dir.mkdir(parents=True, exist_ok=True)
    key = f"{corpus}_{tag}" if tag else corpus
    result_path = out_dir / f"{key}.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result.update({
        "corpus": corpus, "key": key, "flat": spec["flat"], "heldout_split": spec["heldout"],
        "corpus_dir": _rel(corpus_dir), "versions": _versions(), "machine": _machine(), "git": _git(),
        "dev_words": _count_words(dev), "train_words_per_epoch": _count_words(train),
    })
    result["spancat_coverage_train"] = span_coverage(train, "sc", smin, smax)
    result.setdefault("variants", {})
    for name in names:
        v = VARIANTS[name]
        prev = result["variants"].get(name)
        if prev and not force and prev.get("steps") == steps and prev.get("status") == "ok":
            print(f"[{corpus}/{name}] already done with {steps} steps, skipping (--force to redo)")
            continue
        out = runs_dir / key / name
        log_jsonl = out / "train_log.jsonl"
        cmd = [PY, "-m", "spacy", "train", _rel(v["config"]),
               "--code", "scripts/bench_logger.py",
               "--output", _rel(out),
               "--paths.train", _rel(train), "--paths.dev", _rel(dev),
               "--training.max_steps", str(steps), "--training.patience", "0",
               "--training.eval_frequency", str(eval_frequency),
               "--training.logger.@loggers", "spacy-globalpointer.bench.JsonlLogger.v1",
               "--training.logger.output_file", _rel(log_jsonl)]
        if v["component"] == "globalpointer_ner" and spec["flat"]:
            cmd += ["--vars.annotate_ents", "true"]
        if name == "spancat":
            cmd += ["--vars.suggester_min_size", str(smin), "--vars.suggester_max_size", str(smax)]
        cmd += v["overrides"]
        print(f"[{corpus}/{name}] training: {shlex.join(cmd)}", flush=True)
        git_at_start, t_start = _git(), time.time()  # the package is editable: record its state
        tr = _run_measured(cmd, out / "train.log")
        entry = {"label": v["label"], "component": v["component"], "steps": steps,
                 "train_cmd": "env " + " ".join(f"{k}={val}" for k, val in THREAD_ENV.items()
                                                if k != "PYTHONUNBUFFERED") + " " +
                 shlex.join(["python"] + cmd[1:]),
                 "train_wall_s": tr["wall_s"], "train_peak_rss_mib": tr["peak_rss_mib"],
                 "git": git_at_start, "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_start))}
        if tr["rc"] != 0:
            entry["status"] = f"train failed rc={tr['rc']} (see {_rel(out / 'train.log')})"
            print(f"[{corpus}/{name}] {entry['status']}", flush=True)
            _save_variant(result_path, result, name, entry)
            continue
        entry.update(train_speed(log_jsonl, result["dev_words"]))
        if name == "spancat":
            entry["suggester"] = {"min_size": smin, "max_size": smax}
        ev_out = out / "eval.json"
        ecmd = [PY, str(HERE / "benchmark.py"), "evaluate", _rel(out / "model-last"), _rel(heldout),
                "--component", v["component"], "--output", _rel(ev_out), "--passes", str(passes)]
        print(f"[{corpus}/{name}] evaluating: {shlex.join(ecmd)}", flush=True)
        ev = _run_measured(ecmd, out / "eval.log")
        if ev["rc"] != 0:
            entry["status"] = f"eval failed rc={ev['rc']} (see {_rel(out / 'eval.log')})"
        else:
            entry.update(json.loads(ev_out.read_text()))
            entry["eval_cmd"] = shlex.join(["python"] + ecmd[1:]).replace(str(HERE) + "/", "scripts/")
            entry["status"] = "ok"
            a = entry["accuracy"]
            print(f"[{corpus}/{name}] F={a['f']:.4f} P={a['p']:.4f} R={a['r']:.4f} "
                  f"train {entry['train_wps_median']:.0f} w/s, infer {entry['infer_wps_median']:.0f} w/s, "
                  f"RSS train {entry['train_peak_rss_mib']:.0f} MiB, infer {entry['infer_peak_rss_mib']:.0f} MiB",
                  flush=True)
        _save_variant(result_path, result, name, entry)
    print(f"wrote {_rel(result_path)}")
    report(out_dir=out_dir, output=None)


@app.command()
def speed(
    corpus: str = typer.Argument(..., help="Corpus name (reads OUT_DIR/CORPUS.json)"),
    rounds: int = typer.Option(5, "--rounds"),
    corpus_dir: Optional[Path] = typer.Option(None, "--corpus-dir", help="Default: the one in the JSON"),
    runs_dir: Path = typer.Option(PROJECT / "benchmarks/runs", "--runs-dir"),
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    tag: str = typer.Option("", "--tag", help="As for `run`"),
) -> None:
    """Inference speed of all trained variants of CORPUS, interleaved (round
    robin: one pass of each pipeline, then its tok2vec-only floor, per round)
    in one process, so that a changing load on a shared machine hits all of
    them alike. Adds `infer_interleaved` to each variant in the JSON."""
    import spacy
    from spacy.tokens import Doc, DocBin

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    key = f"{corpus}_{tag}" if tag else corpus
    result_path = out_dir / f"{key}.json"
    result = json.loads(result_path.read_text())
    cdir = corpus_dir or (PROJECT / result["corpus_dir"])
    heldout = Path(cdir) / f"{result['heldout_split']}.spacy"
    names = [n for n, e in result["variants"].items() if e.get("status") == "ok"]
    nlps = {n: spacy.load(runs_dir / key / n / "model-last") for n in names}
    vocab = next(iter(nlps.values())).vocab
    gold = list(DocBin().from_disk(heldout).get_docs(vocab))
    n_words = sum(len(d) for d in gold)
    times = {n: {"full": [], "floor": []} for n in names}

    def one(nlp):
        docs = [Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in gold]
        t0 = time.perf_counter()
        for _ in nlp.pipe(docs, batch_size=nlp.batch_size):
            pass
        return time.perf_counter() - t0

    for n in names:  # warm-up
        one(nlps[n])
    for r in range(rounds):
        for n in names:
            nlp = nlps[n]
            times[n]["full"].append(one(nlp))
            with nlp.select_pipes(disable=[result["variants"][n]["component"]]):
                times[n]["floor"].append(one(nlp))
        print(f"round {r + 1}/{rounds} done", flush=True)
    for n in names:
        full = statistics.median(n_words / t for t in times[n]["full"])
        floor = statistics.median(n_words / t for t in times[n]["floor"])
        result["variants"][n]["infer_interleaved"] = {
            "rounds": rounds, "infer_wps_median": full, "tok2vec_only_wps_median": floor,
            "head_overhead": floor / full - 1.0,
        }
        print(f"{n}: {full:,.0f} w/s, tok2vec only {floor:,.0f} w/s, head overhead {100 * (floor / full - 1):.0f}%")
    result["speed_cmd"] = f"python scripts/benchmark.py speed {corpus} --rounds {rounds}" + (f" --tag {tag}" if tag else "")
    result_path.write_text(json.dumps(result, indent=2))
    report(out_dir=out_dir, output=None)


def _fmt(x, pct=False, nd=1):
    if x is None:
        return "-"
    return f"{100 * x:.{nd}f}" if pct else f"{x:,.0f}"


def _targets(res: Dict[str, dict]) -> List[str]:
    lines = []

    def ok(cond):
        return "HIT" if cond else "MISSED"

    cl = res.get("cluener", {}).get("variants", {})
    cm = res.get("cmeee", {}).get("variants", {})

    def f(d, k):
        e = d.get(k)
        return e["accuracy"]["f"] * 100 if e and e.get("status") == "ok" else None

    def g(d, k, key):
        e = d.get(k)
        if not e or e.get("status") != "ok":
            return None
        # inference figures: prefer the interleaved measurement (same load for all)
        if key in ("infer_wps_median", "head_overhead") and "infer_interleaved" in e:
            return e["infer_interleaved"][key]
        return e.get(key)

    gp, ner, sc = f(cl, "gp"), f(cl, "ner"), f(cl, "spancat")
    if gp is not None and (ner is not None or sc is not None):
        best = max(x for x in (ner, sc) if x is not None)
        lines.append(f"| CLUENER F: GP >= best(ner, spancat) + 2 | GP {gp:.1f} vs {best:.1f} + 2 | {ok(gp >= best + 2)} |")
    c6 = res.get("cluener_6000", {}).get("variants", {})
    gp6, ner6, sc6 = f(c6, "gp"), f(c6, "ner"), f(c6, "spancat")
    if gp6 is not None and (ner6 is not None or sc6 is not None):
        best6 = max(x for x in (ner6, sc6) if x is not None)
        lines.append(f"| CLUENER F at 6000 steps: GP >= best(ner, spancat) + 2 | GP {gp6:.1f} vs {best6:.1f} + 2 "
                     f"(ner {ner6 if ner6 is not None else float('nan'):.1f}, spancat "
                     f"{sc6 if sc6 is not None else float('nan'):.1f}) | {ok(gp6 >= best6 + 2)} |")
    if gp6 is not None:
        # reference figures for spaCy's default CPU tok2vec at 6000 steps: ner 59.1, spancat 1-12 67.4
        lines.append(f"| CLUENER F at 6000 steps: GP >= reference best (spancat 67.4) + 2 | GP {gp6:.1f} vs 69.4 "
                     f"| {ok(gp6 >= 69.4)} |")
    gp2, sc2 = f(cm, "gp"), f(cm, "spancat")
    if gp2 is not None and sc2 is not None:
        lines.append(f"| CMeEE F: GP >= spancat + 5 | GP {gp2:.1f} vs {sc2:.1f} + 5 | {ok(gp2 >= sc2 + 5)} |")
    for cname, d in (("CLUENER", cl), ("CMeEE", cm), ("CLUENER 6000 steps", c6)):
        gtw, stw, ntw = g(d, "gp", "train_wps_median"), g(d, "spancat", "train_wps_median"), g(d, "ner", "train_wps_median")
        if gtw and stw:
            lines.append(f"| {cname} train words/s: GP >= 1.5x spancat | {gtw:,.0f} vs {stw:,.0f} ({gtw / stw:.2f}x) | {ok(gtw >= 1.5 * stw)} |")
        if gtw and ntw:
            lines.append(f"| {cname} train words/s: GP >= 1.0x ner | {gtw:,.0f} vs {ntw:,.0f} ({gtw / ntw:.3f}x) | {ok(gtw >= ntw)} |")
        giw, siw, niw = g(d, "gp", "infer_wps_median"), g(d, "spancat", "infer_wps_median"), g(d, "ner", "infer_wps_median")
        if giw and niw:
            lines.append(f"| {cname} infer words/s: GP >= 1.0x ner | {giw:,.0f} vs {niw:,.0f} ({giw / niw:.2f}x) | {ok(giw >= niw)} |")
        if giw and siw:
            lines.append(f"| {cname} infer words/s: GP >= 2x spancat | {giw:,.0f} vs {siw:,.0f} ({giw / siw:.2f}x) | {ok(giw >= 2 * siw)} |")
        ho = g(d, "gp", "head_overhead")
        if ho is not None:
            lines.append(f"| {cname} GP head overhead over tok2vec alone <= 25% | {100 * ho:.0f}% | {ok(ho <= 0.25)} |")
        for key, what in (("train_peak_rss_mib", "train"), ("infer_peak_rss_mib", "infer")):
            gm, sm = g(d, "gp", key), g(d, "spancat", key)
            if gm and sm:
                lines.append(f"| {cname} peak RSS {what}: GP <= spancat | {gm:.0f} vs {sm:.0f} MiB | {ok(gm <= sm)} |")
    nr = f(cl, "gp_norope")
    if gp is not None and nr is not None:
        lines.append(f"| CLUENER ablation: no-RoPE drops F by >= 10 | {gp:.1f} -> {nr:.1f} ({gp - nr:+.1f} drop) | {ok(gp - nr >= 10)} |")
    return lines


@app.command()
def report(
    out_dir: Path = typer.Option(PROJECT / "benchmarks", "--out-dir"),
    output: Optional[Path] = typer.Option(None, "--output", help="Default: OUT_DIR/RESULTS.md"),
) -> None:
    """Write RESULTS.md from OUT_DIR/*.json."""
    res = {}
    for p in sorted(out_dir.glob("*.json")):
        d = json.loads(p.read_text())
        if "variants" in d:
            res[d.get("key", d["corpus"])] = d
    output = output or out_dir / "RESULTS.md"
    L = ["# Benchmark: globalpointer_ner vs spaCy ner / spancat", "",
         "Generated by `python scripts/benchmark.py report` from `benchmarks/<corpus>.json` "
         "(raw figures, per-type scores, per-pass speeds and training curves are there).", ""]
    any_d = next(iter(res.values()), None)
    if any_d:
        L += ["## Setup", ""]
        L.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in any_d["versions"].items()))
        m = any_d["machine"]
        L.append(f"- Machine: {m['cpu']}, {m['cpu_count']} cores (shared with other jobs), {m['memory']} RAM, "
                 f"{m['platform']}, no GPU; every training / evaluation process ran with 1 thread "
                 "(OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1, torch.set_num_threads(1) at eval), "
                 "one process at a time.")
        L.append("- Same for every variant: `[components.tok2vec]` (Tok2Vec.v2, MultiHashEmbed NORM/SHAPE "
                 "10000/500 rows, MaxoutWindowEncoder width 96 depth 4 window 1, shared via listener), "
                 "`[training]` seed 0, dropout 0.1, Adam lr 0.001 (L2 0.01, grad clip 1.0), "
                 "batch_by_words compounding 100->1000 (x1.001), eval every 200 steps, "
                 "`--training.patience 0` so every run does exactly the stated number of steps. "
                 "Exception: `gp_spacy_attrs` (tok2vec-features ablation, see TOK2VEC_ATTRS.md) uses spaCy's "
                 "default MultiHashEmbed attrs NORM/PREFIX/SUFFIX/SHAPE with rows 5000/1000/2500/2500.")
        L.append("- Scores: exact (start, end, label) matches against ALL gold spans of `doc.spans['sc']`, "
                 "on the held-out split, with each run's `model-last` (no checkpoint selection). "
                 "ner is scored on `doc.ents`, the others on `doc.spans['sc']`.")
        L.append("- Train words/s: median over the eval intervals of words / (interval wall time - "
                 "time of the dev evaluation in it, = dev words / eval speed). "
                 "Infer words/s: median of the timed passes (3 unless stated in the JSON; after 1 warm-up) of `nlp.pipe` over the pre-tokenized "
                 "held-out docs (tokenization excluded, batch_size = nlp.batch_size = 256). "
                 "Floor: the same with the head disabled (tok2vec alone); head overhead = floor / full - 1. "
                 "Peak RSS: max resident set size of the training process (os.wait4) and of the "
                 "evaluation process (load + accuracy pass + speed passes).")
        L.append("")
    for cname, d in res.items():
        steps = sorted({v.get("steps") for v in d["variants"].values()})
        L += [f"## {cname} (held-out = {d['heldout_split']} split, {d.get('dev_words', 0):,} dev words, "
              f"{d.get('train_words_per_epoch', 0):,} train words/epoch; steps: {', '.join(map(str, steps))})", ""]
        if d["heldout_split"] == "dev":
            L.append("CLUENER's official test set is unlabeled, so the held-out figures are on the official "
                     "dev set, which is also the dev set of training (used only for the logged curve: "
                     "the reported model is model-last).")
            L.append("")
        cov = d.get("spancat_coverage_train")
        if cov:
            L.append(f"spancat suggester `spacy.ngram_range_suggester.v1` min_size={cov['min_size']} "
                     f"max_size={cov['max_size']}: reaches {cov['reachable']:,} of {cov['gold_spans']:,} "
                     f"gold train spans ({100 * cov['share']:.1f}%; longest gold span {cov['max_gold_len']}).")
            L.append("")
        L += ["| variant | steps | F | P | R | train words/s | train wall s | infer words/s | "
              "tok2vec-only words/s | head overhead | peak RSS train MiB | peak RSS infer MiB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, e in d["variants"].items():
            if e.get("status") != "ok":
                L.append(f"| {e.get('label', name)} | {e.get('steps')} | {e.get('status')} |||||||||| ")
                continue
            a = e["accuracy"]
            L.append(f"| {e['label']} (`{name}`) | {e['steps']} | {_fmt(a['f'], True)} | {_fmt(a['p'], True)} | "
                     f"{_fmt(a['r'], True)} | {_fmt(e['train_wps_median'])} | {_fmt(e['train_wall_s'])} | "
                     f"{_fmt(e['infer_wps_median'])} | {_fmt(e['tok2vec_only_wps_median'])} | "
                     f"{100 * e['head_overhead']:.0f}% | {_fmt(e['train_peak_rss_mib'])} | "
                     f"{_fmt(e['infer_peak_rss_mib'])} |")
        L.append("")
        inter = {k: e["infer_interleaved"] for k, e in d["variants"].items() if "infer_interleaved" in e}
        if inter:
            r = next(iter(inter.values()))["rounds"]
            L += [f"Inference re-measured interleaved (`{d.get('speed_cmd', '')}`): all pipelines loaded in one "
                  f"process, one pass each (then its tok2vec-only floor) per round, median of {r} rounds, so "
                  "load changes on the shared machine hit all variants alike. The targets use these figures.", "",
                  "| variant | infer words/s | tok2vec-only words/s | head overhead |", "|---|---:|---:|---:|"]
            for k, x in inter.items():
                L.append(f"| {d['variants'][k]['label']} (`{k}`) | {_fmt(x['infer_wps_median'])} | "
                         f"{_fmt(x['tok2vec_only_wps_median'])} | {100 * x['head_overhead']:.0f}% |")
            L.append("")
        ok_v = {k: e for k, e in d["variants"].items() if e.get("status") == "ok"}
        labels = sorted(set().union(*(e["accuracy"]["per_type"] for e in ok_v.values()))) if ok_v else []
        if labels:
            L += ["Per-type F (P / R):", "",
                  "| type | support | " + " | ".join(ok_v) + " |",
                  "|---|---:|" + "---:|" * len(ok_v)]
            for lab in labels:
                sup = next((e["accuracy"]["per_type"][lab]["support"] for e in ok_v.values()
                            if lab in e["accuracy"]["per_type"]), 0)
                cells = []
                for e in ok_v.values():
                    t = e["accuracy"]["per_type"].get(lab)
                    cells.append(f"{100 * t['f']:.1f} ({100 * t['p']:.0f} / {100 * t['r']:.0f})" if t else "-")
                L.append(f"| {lab} | {sup} | " + " | ".join(cells) + " |")
            L.append("")
        L += ["Commands (run from `project/`):", "", "```"]
        for name, e in d["variants"].items():
            L.append(_tidy(e.get("train_cmd", "")))
            if e.get("eval_cmd"):
                L.append(_tidy(e["eval_cmd"]))
        L += ["```", ""]
    t = _targets(res)
    if t:
        L += ["## Targets", "", "Figures from the JSON of each corpus; the train words/s and peak RSS of a pair may come from different "
              "sessions (the `git`/`started` fields of each variant say when; see the notes below), the inference "
              "words/s and head overhead from one interleaved measurement per corpus.", "",
              "| target | measured | result |", "|---|---|---|"] + t + [""]
    notes = out_dir / "notes.md"
    if notes.exists():  # hand-written observations, kept across regenerations
        L += [notes.read_text(encoding="utf8").rstrip(), ""]
    if (out_dir / "dev_f_vs_time.png").exists():
        L += ["![dev F vs training time](dev_f_vs_time.png)", ""]
    output.write_text("\n".join(L), encoding="utf8")
    print(f"wrote {_rel(output)}")


if __name__ == "__main__":
    app()
