"""`spacy-globalpointer.tune_threshold.v1`: the threshold chosen on the dev set
while training (spacy_globalpointer/ner/callbacks.py)."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from spacy.util import registry

from spacy_globalpointer.ner.callbacks import set_best_thresholds

from ..conftest import FLAT_DATA, NESTED_DATA, PIPE, _train, make_examples

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CALLBACK = "spacy-globalpointer.tune_threshold.v1"
GRID = [round(0.05 * i, 2) for i in range(1, 20)]


def _f_at_each_threshold(nlp, examples, setting, score):
    """spaCy's own score of the output at every grid value of `setting`."""
    pipe = nlp.get_pipe(PIPE)
    saved = pipe.cfg[setting]
    found = {}
    for value in GRID:
        pipe.cfg[setting] = value
        found[value] = nlp.evaluate(examples)[score]
    pipe.cfg[setting] = saved
    return found


@pytest.mark.parametrize("data,ents,settings", [
    (NESTED_DATA, False, {"threshold": "spans_sc_f"}),
    (FLAT_DATA, True, {"threshold": "spans_sc_f", "ents_threshold": "ents_f"}),
], ids=["nested", "flat"])
def test_the_threshold_set_is_the_best_on_dev(data, ents, settings):
    """The value set reaches the best F spaCy's scorer gives over the grid,
    and the F recorded is that F."""
    # two updates: F still depends on the threshold
    nlp, examples = _train({"annotate_ents": ents}, data, ents, n_iter=2)
    curves = {setting: _f_at_each_threshold(nlp, examples, setting, score) for setting, score in settings.items()}
    for setting, curve in curves.items():
        assert max(curve.values()) - min(curve.values()) > 0.05, f"{setting}: F does not depend on it here"
    chosen = set_best_thresholds(nlp, PIPE, examples, GRID)
    pipe = nlp.get_pipe(PIPE)
    for setting, score in settings.items():
        curve = curves[setting]
        target = "ents" if setting == "ents_threshold" else "spans"
        assert curve[chosen[setting]] == pytest.approx(max(curve.values()))
        assert chosen[f"{target}_f"] == pytest.approx(curve[chosen[setting]], abs=1e-6)
        assert pipe.cfg[setting] == chosen[setting]
        assert nlp.config["components"][PIPE][setting] == chosen[setting]
    assert nlp.evaluate(examples)[settings["threshold"]] == pytest.approx(max(curves["threshold"].values()))


def test_spacy_train_saves_the_threshold_tuned_on_dev(tmp_path):
    """With the callback as `before_to_disk`, the saved pipeline carries the
    threshold that is best on the training's dev corpus for its weights."""
    nlp = spacy.blank("zh")
    docs = [eg.reference for eg in make_examples(nlp, NESTED_DATA, ents=False)]
    corpus = tmp_path / "corpus.spacy"
    DocBin(docs=docs * 2).to_disk(corpus)
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), "training.max_steps": 8,
                 "training.eval_frequency": 4, "training.before_to_disk": {"@callbacks": CALLBACK}}
    spacy_train(CONFIGS / "globalpointer_tok2vec.cfg", tmp_path / "out", overrides=overrides)
    for saved in ("model-last", "model-best"):
        trained = spacy.load(tmp_path / "out" / saved)
        recorded = trained.meta["globalpointer"]["thresholds_tuned_on_dev"][PIPE]
        # cfg and meta are read back through srsly's JSON, which parses 0.7 as 0.7000000000000001.
        threshold = pytest.approx(trained.config["components"][PIPE]["threshold"], abs=1e-12)
        assert trained.get_pipe(PIPE).cfg["threshold"] == threshold
        assert recorded["threshold"] == threshold
        examples = make_examples(trained, NESTED_DATA, ents=False)
        again = set_best_thresholds(trained, PIPE, examples)
        assert again == {key: pytest.approx(value, abs=1e-12) for key, value in recorded.items()}


def test_callback_errors_are_coded():
    with pytest.raises(ValueError, match="GP040"):
        registry.callbacks.get(CALLBACK)(grid=[])
    with pytest.raises(ValueError, match="GP040"):
        registry.callbacks.get(CALLBACK)(grid=[0.2, 1.5])
    callback = registry.callbacks.get(CALLBACK)()
    with pytest.raises(ValueError, match="GP041"):
        callback(spacy.blank("en"))
