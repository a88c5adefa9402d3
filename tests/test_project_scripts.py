"""The project's scripts (project/scripts, imported as the package `scripts`:
project/ is on sys.path, see conftest.py): the threshold sweep against running
the pipeline at each threshold, the one exact-span scorer, the Markdown tables."""
import pytest
import spacy
from spacy.tokens import DocBin

from .conftest import PIPE, SPANS_KEY


def _threshold_sweep_script():
    """The benchmark's `project/scripts/threshold_sweep.py`, imported."""
    from scripts import threshold_sweep

    return threshold_sweep


@pytest.mark.parametrize("which", ["nested", "flat"])
def test_threshold_sweep_equals_running_at_each_threshold(which, request):
    """The benchmark's sweep predicts once and writes the output once per
    threshold; that must score what running the pipeline at that threshold
    scores."""
    sweep = _threshold_sweep_script()
    path = request.getfixturevalue(which)
    nlp = spacy.load(path / "model")
    gold = list(DocBin().from_disk(path / "dev.spacy").get_docs(nlp.vocab))
    ents = which == "flat"
    for doc in gold:  # the sweep reads the gold from doc.spans["sc"]
        doc.spans[SPANS_KEY] = list(doc.ents) if ents else list(doc.spans[SPANS_KEY])
    grid = (0.0, 0.05, 0.5, 0.999, 1.0)
    swept = sweep.sweep_split(nlp, PIPE, gold, ents, grid)
    gp = nlp.get_pipe(PIPE)
    assert gp.cfg["threshold"] == 0.2  # restored afterwards
    fs = set()
    for t in grid:
        gp.cfg["threshold"] = t
        tp = fp = fn = 0
        for ref, doc in zip(gold, nlp.pipe([d.text for d in gold])):
            got = {(s.start_char, s.end_char, s.label_) for s in (doc.ents if ents else doc.spans[SPANS_KEY])}
            want = {(s.start_char, s.end_char, s.label_) for s in ref.spans[SPANS_KEY]}
            tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        assert swept[t]["p"] == pytest.approx(p) and swept[t]["r"] == pytest.approx(r), t
        fs.add(round(swept[t]["f"], 6))
    assert len(fs) > 1  # the thresholds do change the output


def test_threshold_report_names_its_seeds_and_json(tmp_path):
    """THRESHOLD[_REGIME].md says how many seeds its means are over and which
    JSON it was made from (a one-seed sweep is not a 3-seed mean)."""
    sweep = _threshold_sweep_script()
    run = {"dev": {"0.2": {"f": 0.5}, "0.5": {"f": 0.6}}, "test": {"0.2": {"f": 0.4}, "0.5": {"f": 0.45}},
           "own_threshold": 0.5, "test_at_own": 0.45, "dev_best_threshold": 0.5, "test_at_dev_best": 0.45}
    md = tmp_path / "THRESHOLD_minilm.md"
    sweep.write_report({"wnut17": {"gp": {"0": run}}}, md, tmp_path / "threshold_minilm.json")
    text = md.read_text(encoding="utf8")
    assert "mean dev F (1 seed) per threshold" in text and "`benchmarks/threshold_minilm.json`" in text
    sweep.write_report({"wnut17": {"gp": {"0": run, "1": run}}, "btc": {"gp": {"0": run}}}, md, tmp_path / "t.json")
    assert "mean dev F (seeds per corpus: 2, 1) per threshold" in md.read_text(encoding="utf8")


def _sweep_layout(nested, tmp_path, run_folders):
    """RUNS/<folder>/model-best for each of run_folders (the tiny nested model)
    and CORPUS/cmeee/{dev,test}.spacy (its dev set twice): what
    `threshold_sweep.main` reads. RETURNS (runs, corpora)."""
    import shutil

    runs, corpora = tmp_path / "runs", tmp_path / "corpus"
    for folder in run_folders:
        shutil.copytree(nested / "model", runs / folder / "model-best")
    (corpora / "cmeee").mkdir(parents=True)
    for split in ("dev", "test"):
        shutil.copy(nested / "dev.spacy", corpora / "cmeee" / f"{split}.spacy")
    return runs, corpora


def test_threshold_sweep_tag_takes_the_tagged_runs(nested, tmp_path):
    """`--tag TAG` sweeps the runs of `benchmark run --tag TAG`
    (RUNS_DIR/CORPUS_TAG), not the untagged ones beside them."""
    from scripts.common import read_json

    sweep = _threshold_sweep_script()
    # cmeee/gp_s1 is untagged: not swept
    runs, corpora = _sweep_layout(nested, tmp_path, ["cmeee_callback/gp_s0", "cmeee/gp_s1"])
    out, md = tmp_path / "threshold_callback.json", tmp_path / "THRESHOLD_callback.md"
    sweep.main(["cmeee"], seeds="0,1", variants="gp", runs_dir=runs, corpus_root=corpora, regime="cpu",
               tag="callback", grid="0.2,0.5", output=out, report=md)
    swept = read_json(out)["cmeee"]["gp"]
    assert list(swept) == ["0"]  # seed 1 has only an untagged model: skipped
    assert "cmeee_callback" in swept["0"]["model"] and swept["0"]["own_threshold"] == 0.2
    assert "| cmeee | GlobalPointer | 0.2 |" in md.read_text(encoding="utf8")


def test_threshold_sweep_own_threshold_with_float_noise_is_the_grid_value(nested, tmp_path, monkeypatch):
    """A model whose threshold loads as the grid's value plus float noise (a
    MiniLM model chosen on dev at 0.7 loads as 0.7000000000000001) is swept at
    the grid's value, not at a second row the report prints as "0.2" twice."""
    from scripts.common import read_json

    sweep = _threshold_sweep_script()
    runs, corpora = _sweep_layout(nested, tmp_path, ["cmeee/gp_s0"])
    load = spacy.load

    def load_with_noise(path, **kwargs):
        nlp = load(path, **kwargs)
        nlp.get_pipe(PIPE).cfg["threshold"] = 0.2 + 1e-12
        return nlp

    monkeypatch.setattr(spacy, "load", load_with_noise)
    out, md = tmp_path / "threshold.json", tmp_path / "THRESHOLD.md"
    sweep.main(["cmeee"], seeds="0", variants="gp", runs_dir=runs, corpus_root=corpora, regime="cpu",
               tag="", grid="0.2,0.5", output=out, report=md)
    run = read_json(out)["cmeee"]["gp"]["0"]
    assert run["own_threshold"] == 0.2 and list(run["dev"]) == ["0.2", "0.5"]
    rows = [line for line in md.read_text(encoding="utf8").splitlines() if line.startswith("| 0.2 |")]
    assert len(rows) == 1


def test_project_exact_span_scorer():
    """`scripts.common.score_spans`, the one exact-span scorer of the
    project's scripts (spaCy's PRFScore): counts over all docs, per type too."""
    from scripts.common import score_spans

    pairs = [
        ({(0, 2, "PER"), (3, 5, "LOC")}, {(0, 2, "PER"), (3, 6, "LOC")}),
        (set(), {(1, 2, "ORG")}),
        ({(0, 1, "LOC")}, set()),
    ]
    scores = score_spans(pairs, per_type=True)
    # tp 1 (PER), fp 2 (LOC twice), fn 2 (LOC, ORG)
    assert scores["p"] == pytest.approx(1 / 3) and scores["r"] == pytest.approx(1 / 3)
    assert scores["f"] == pytest.approx(1 / 3) and scores["support"] == 3
    assert list(scores["per_type"]) == ["LOC", "ORG", "PER"]
    assert scores["per_type"]["PER"] == {"p": 1.0, "r": 1.0, "f": pytest.approx(1.0), "support": 1}
    assert scores["per_type"]["LOC"] == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 1}
    assert score_spans([]) == {"p": 0.0, "r": 0.0, "f": 0.0, "support": 0}


def test_project_markdown_tables():
    """`scripts.common.md_table`: wasabi's table with the committed tables'
    compact divider row."""
    from scripts.common import md_table

    rows = [("a", 1, ""), ("b", 2, "x")]
    assert md_table(rows, ["name", "n", "note"], "lrl") == (
        "| name | n | note |\n|---|---:|---|\n| a | 1 |  |\n| b | 2 | x |")
    assert md_table(rows, ["name", "n", "note"], "lrl", tight_empty=True).split("\n")[2] == "| a | 1 | |"
    assert md_table([], ["name"], "c") == "| name |\n|:---:|"


def _bench_run(curve, best, test_f=0.5):
    """One run of a benchmark results JSON, with its dev curve."""
    points = [{"step": 100 * i, "score": score, "t": 10.0 * i} for i, score in enumerate(curve)]
    return {"status": "ok", "steps": 100 * len(curve), "curve": points, "best_dev": best,
            "best_step": 100 * curve.index(best), "test": {"f": test_f, "p": 0.5, "r": 0.5, "per_type": {}},
            "train_wps_median": 1.0, "train_wall_s": 1.0, "train_peak_rss_mib": 1.0}


def test_benchmark_targets_are_provisional_until_the_protocol_ran():
    """A target is only judged plainly once every peer ran with the
    protocol's seeds; before that the verdict says what is missing."""
    from scripts.benchmark import PROTOCOL_SEEDS, _targets

    def variant(n, f):
        return {"label": "x", "runs": {str(i): _bench_run([0.0, 0.5, 0.6, 0.6], 0.6, f) for i in range(n)}}

    flat = {"flat": True, "variants": {"gp": variant(1, 0.44), "spancat": variant(1, 0.40)}}
    verdicts = {t: r for t, _, r in _targets({"wnut17_minilm": flat}, "minilm") if "peer" in t}
    assert verdicts and all(r == "HIT (provisional: ner not run; 1 seed of 3)" for r in verdicts.values())
    full = {"flat": True, "variants": {n: variant(PROTOCOL_SEEDS, f) for n, f in
                                       (("gp", 0.44), ("ner", 0.435), ("spancat", 0.40))}}
    verdicts = {t: r for t, _, r in _targets({"wnut17_minilm": full}, "minilm") if "peer" in t}
    assert verdicts == {"wnut17_minilm: GP F >= best spaCy peer + 1": "MISSED",
                        "wnut17_minilm: GP never below the better peer": "HIT"}
    # A run whose best dev step is in the last third: not a converged ranking
    full["variants"]["ner"]["runs"]["0"] = _bench_run([0.0, 0.5, 0.55, 0.6], 0.6, 0.435)
    verdicts = {t: r for t, _, r in _targets({"wnut17_minilm": full}, "minilm") if "peer" in t}
    assert verdicts["wnut17_minilm: GP never below the better peer"] == (
        "HIT (provisional: not converged: 1 of the runs still climbing)")


def test_benchmark_test_f_cell():
    """The report's test F: mean ± sd (min-max) over seeds; one run has no
    spread to show, so it reads as one run, not '± 0.0'."""
    from scripts.benchmark import _test_f_cell, summarise

    def variant(fs):
        return {"label": "x", "runs": {str(i): _bench_run([0.0, 0.6], 0.6, f) for i, f in enumerate(fs)}}

    assert _test_f_cell(summarise(variant([0.682]))) == "**68.2** (one run)"
    assert _test_f_cell(summarise(variant([0.40, 0.44, 0.42]))) == "**42.0** ± 2.0 (40.0-44.0)"


def test_benchmark_best_step_cell_says_what_the_last_third_added():
    """A best dev step after two thirds of the budget is flagged, with the
    rise of the best dev F over the last third; an earlier one is not."""
    from scripts.benchmark import _best_step_cell

    plateau = _bench_run([0.0, 0.5, 0.60, 0.58, 0.59, 0.604], 0.604)  # steps 0-500, budget 600
    assert _best_step_cell(plateau) == "500 (still climbing, +0.4 in the last third)"
    climb = _bench_run([0.0, 0.2, 0.3, 0.4, 0.5, 0.6], 0.6)
    assert _best_step_cell(climb) == "500 (still climbing, +10.0 in the last third)"
    early = _bench_run([0.0, 0.6, 0.5, 0.5, 0.5, 0.5], 0.6)
    assert _best_step_cell(early) == "100"


def test_benchmark_report_names_the_shared_overrides():
    """A run made with --set says so in its section: the variant's label
    alone would read like the shipped defaults."""
    from scripts.benchmark import _shared_overrides_note

    assert _shared_overrides_note([]) == "" and _shared_overrides_note(None) == ""
    assert _shared_overrides_note(["--components.globalpointer_ner.model.head_size", "128"]) == (
        " Every run here also had `--components.globalpointer_ner.model.head_size 128` (`--set`).")


def test_benchmark_learning_speed():
    """`scripts.benchmark.learning_speed`: the first evaluation at which each
    component reaches 95% of the lowest mean best dev F of the components."""
    from scripts.benchmark import learning_speed

    run = _bench_run

    res = {"variants": {
        "fast": {"label": "Fast", "runs": {"0": run([0.0, 0.5, 0.6, 0.6], 0.6), "1": run([0.0, 0.58, 0.6], 0.6)}},
        "slow": {"label": "Slow", "runs": {"0": run([0.0, 0.2, 0.4, 0.5], 0.5), "1": run([0.0, 0.1, 0.2, 0.3], 0.3)}},
    }}
    target, rows = learning_speed(res)
    assert target == pytest.approx(95 * 0.4)  # 95% of the slow component's mean best, 40
    assert rows == [("Fast (`fast`)", "s0: 100, s1: 100", "10"), ("Slow (`slow`)", "s0: 200, s1: never", "20")]


def test_benchmark_report_quotes_the_encoder_speed(tmp_path):
    """A pretrained regime's report carries every component's training and
    inference speed on the encoder from `benchmark_trf`'s JSON, and none
    where that JSON does not exist."""
    from scripts.benchmark import _encoder_speed_section
    from scripts.common import write_json

    assert _encoder_speed_section(tmp_path, "minilm") == []
    meta = {"batch_words": 1000, "batches": 8, "dev_docs": 200, "dev_words": 2972, "rounds": 3,
            "cmd": "python -m scripts.benchmark_trf corpus/bench/wnut17 --tag minilm"}
    results = {"GlobalPointer": {"train_wps": 284.4, "infer_wps": 932.1, "head_share": 0.0375},
               "spaCy spancat": {"train_wps": 216.0, "infer_wps": 685.0, "head_share": 0.2923}}
    write_json(tmp_path / "transformer_minilm.json", {"meta": meta, "results": results})
    text = "\n".join(_encoder_speed_section(tmp_path, "minilm"))
    assert "| GlobalPointer | 284 | 932 | 3.8% |" in text
    assert "| spaCy spancat | 216 | 685 | 29.2% |" in text
    assert "`TRANSFORMER_MINILM.md`" in text and "as recorded" not in text
    assert _encoder_speed_section(tmp_path, "cpu") == []
