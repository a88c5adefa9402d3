"""Threshold tuning (`ner/tuning.py`): the search per label, and the
`tune-thresholds` command and its errors."""
import subprocess
import sys

import numpy
import pytest
import spacy

from spacy_globalpointer.spans import Candidates
from spacy_globalpointer.ner.tuning import DevSet, ent_counts, span_counts, tune

from ..conftest import PIPE


def _dev(rows, gold, labels=("A", "B"), lengths=None):
    """A DevSet from (doc, start, end, label, score) rows and per-doc gold."""
    cols = list(zip(*rows))
    cands = Candidates(
        *(numpy.asarray(c, dtype="int64") for c in cols[:4]), numpy.asarray(cols[4], dtype="float32")
    )
    n_docs = len(gold)
    return DevSet(cands, gold, [[] for _ in range(n_docs)], lengths or [10] * n_docs, labels)


def test_tune_spans_finds_the_separating_threshold():
    # Label A: gold spans at 0.3, wrong ones at 0.1; label B is right at 0.5.
    rows = [(0, i, i + 1, 0, 0.3) for i in range(3)] + [(0, i, i + 1, 0, 0.1) for i in range(3, 6)]
    rows += [(1, 0, 2, 1, 0.9), (1, 2, 4, 1, 0.2)]
    gold = [{(0, 1, 0), (1, 2, 0), (2, 3, 0)}, {(0, 2, 1)}]
    dev = _dev(rows, gold)
    start = numpy.array([0.5, 0.5])
    assert span_counts(dev, start).prf()[2] < 1.0
    tuned = tune(dev, start, "spans", min_support=1)
    assert 0.1 <= tuned[0] < 0.3  # drops the 0.1 spans, keeps the 0.3 ones
    assert tuned[1] == pytest.approx(0.5)  # already perfect: kept
    assert span_counts(dev, tuned).prf()[2] == 1.0
    # Below min_support, labels keep their threshold.
    assert list(tune(dev, start, "spans", min_support=10)) == [0.5, 0.5]


def test_tune_ents_resolves_label_competition():
    # A wrong A (0.6) overlaps a gold B (0.4): only raising A and lowering B helps.
    dev = _dev([(0, 0, 2, 0, 0.6), (0, 0, 3, 1, 0.4)], [{(0, 3, 1)}], lengths=[5])
    start = numpy.array([0.5, 0.5])
    assert ent_counts(dev, start, overwrite=False).prf()[2] == 0.0
    tuned = tune(dev, start, "ents", min_support=0)
    assert tuned[0] >= 0.6 and tuned[1] < 0.4
    assert ent_counts(dev, tuned, overwrite=False).prf()[2] == 1.0


@pytest.mark.parametrize("which", ["nested", "flat"])
def test_tune_thresholds_command(which, request, tmp_path):
    path = request.getfixturevalue(which)
    out = tmp_path / "tuned"
    cmd = [sys.executable, "-m", "spacy_globalpointer", "tune-thresholds",
           str(path / "model"), str(path / "dev.spacy"), str(out), "--min-support", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "P/R/F before" in result.stdout and "(micro)" in result.stdout
    nlp = spacy.load(out)
    gp = nlp.get_pipe(PIPE)
    setting = "ents_thresholds" if which == "flat" else "thresholds"
    assert set(gp.cfg[setting]) == set(gp.labels)
    # The saved config says the same as the component's cfg.
    assert dict(nlp.config["components"][PIPE][setting]) == gp.cfg[setting]


def test_tune_thresholds_command_errors(nested, tmp_path):
    cmd = [sys.executable, "-m", "spacy_globalpointer", "tune-thresholds",
           str(nested / "model"), str(nested / "dev.spacy"), str(tmp_path / "x"), "--target", "ents"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1
    assert "annotate_ents = false" in " ".join(result.stdout.split())  # wasabi wraps lines
    assert "GP017" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr



@pytest.mark.parametrize("step", ["0", "0.5", "0.7"])
def test_tune_thresholds_command_checks_the_step(step, tmp_path):
    from typer.testing import CliRunner

    from spacy_globalpointer.__main__ import app

    data = tmp_path / "dev.spacy"
    data.write_bytes(b"")  # never read: the step is checked first
    model, out = str(tmp_path / "model"), str(tmp_path / "out")
    result = CliRunner().invoke(app, ["tune-thresholds", model, str(data), out, "--step", step])
    assert result.exit_code == 1
    assert "[GP019] tune-thresholds: `--step`" in " ".join(result.output.split())


def test_tune_thresholds_errors_are_coded(nested, tmp_path):
    from spacy_globalpointer.ner.tuning import _only_globalpointer, tune_thresholds

    with pytest.raises(ValueError, match=r"\[GP016\].*'tokens'"):
        tune_thresholds(nested / "model", nested / "dev.spacy", tmp_path / "x", target="tokens")
    with pytest.raises(ValueError, match=r"\[GP017\] Component 'globalpointer_ner'"):
        tune_thresholds(nested / "model", nested / "dev.spacy", tmp_path / "x", target="ents")
    nlp = spacy.blank("zh")
    for name in ("gp_a", "gp_b"):
        nlp.add_pipe(PIPE, name=name)
    with pytest.raises(ValueError, match=r"\[GP018\].*2 .*\['gp_a', 'gp_b'\].*--pipe"):
        _only_globalpointer(nlp)
    with pytest.raises(ValueError, match=r"\[GP018\].*0 "):
        _only_globalpointer(spacy.blank("zh"))
