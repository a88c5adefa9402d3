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


def test_benchmark_learning_speed():
    """`scripts.benchmark.learning_speed`: the first evaluation at which each
    component reaches 95% of the lowest mean best dev F of the components."""
    from scripts.benchmark import learning_speed

    def run(curve, best):
        points = [{"step": 100 * i, "score": score, "t": 10.0 * i} for i, score in enumerate(curve)]
        return {"status": "ok", "steps": 100 * len(curve), "curve": points, "best_dev": best,
                "best_step": 100 * curve.index(best), "test": {"f": 0.5, "p": 0.5, "r": 0.5, "per_type": {}},
                "train_wps_median": 1.0, "train_wall_s": 1.0, "train_peak_rss_mib": 1.0}

    res = {"variants": {
        "fast": {"label": "Fast", "runs": {"0": run([0.0, 0.5, 0.6, 0.6], 0.6), "1": run([0.0, 0.58, 0.6], 0.6)}},
        "slow": {"label": "Slow", "runs": {"0": run([0.0, 0.2, 0.4, 0.5], 0.5), "1": run([0.0, 0.1, 0.2, 0.3], 0.3)}},
    }}
    target, rows = learning_speed(res)
    assert target == pytest.approx(95 * 0.4)  # 95% of the slow component's mean best, 40
    assert rows == [("Fast (`fast`)", "s0: 100, s1: 100", "10"), ("Slow (`slow`)", "s0: 200, s1: never", "20")]
