"""The benchmark's threshold sweep (`project/scripts/threshold_sweep.py`)
against running the pipeline at each threshold."""
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from .conftest import PIPE, SPANS_KEY


def _threshold_sweep_script():
    """The benchmark's `project/scripts/threshold_sweep.py`, imported."""
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parents[1] / "project" / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import threshold_sweep

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
