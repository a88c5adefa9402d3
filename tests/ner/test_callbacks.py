"""`spacy-globalpointer.tune_threshold.v1`: the threshold chosen on the dev set
while training (spacy_globalpointer/ner/callbacks.py)."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed
from spacy.util import registry

from spacy_globalpointer.ner.callbacks import set_best_thresholds

from ..conftest import EN_NESTED_DATA, FLAT_DATA, NESTED_DATA, PIPE, _train, make_examples

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


def _outermost(spans):
    """The spans no other span contains: nested gold made flat."""
    return [s for s in spans if not any(o is not s and o.start <= s.start and s.end <= o.end for o in spans)]


def _train_en(config, n_iter):
    """A briefly trained English pipe (gold spans and entities of EN_NESTED_DATA)."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(PIPE, config=config)
    examples = make_examples(nlp, EN_NESTED_DATA)
    for eg in examples:
        eg.reference.ents = _outermost(list(eg.reference.spans["sc"]))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    return nlp, examples


def _retokenised_examples(nlp, ents_only):
    """English examples whose gold tokens differ from the pipeline's, as in a
    corpus `spacy train` re-tokenises: "Chicago-based" and "London," are one
    gold token (spaCy makes two or three), "Obama" is two ("Oba", "ma"), so
    gold "Oba" cannot be predicted and a prediction of "Chicago" cuts a gold
    token. With `ents_only`, the gold is in `doc.ents` alone, as
    `spacy convert` writes it."""
    from spacy.tokens import Doc, Span

    rows = [
        (["Barack", "Oba", "ma", "visited", "the", "Chicago-based", "University"],
         [(0, 2, "PER"), (1, 2, "PER"), (5, 6, "LOC"), (5, 7, "ORG")]),
        (["Angela", "Merkel", "lives", "in", "London,", "England"], [(0, 2, "PER"), (4, 5, "LOC"), (5, 6, "LOC")]),
        (["The", "Bank", "of", "England", "is", "Chicago-based"], [(1, 4, "ORG"), (3, 4, "LOC"), (5, 6, "LOC")]),
    ]
    examples = []
    for words, spans in rows:
        spaces = [True] * len(words)
        spaces[1] = words[1] != "Oba"
        spaces[-1] = False
        ref = Doc(nlp.vocab, words=words, spaces=spaces)
        gold = [Span(ref, s, e, label=label) for s, e, label in spans]
        ref.ents = _outermost(gold)
        if not ents_only:
            ref.spans["sc"] = gold
        examples.append(Example(nlp.make_doc(ref.text), ref))
    assert any(len(eg.predicted) != len(eg.reference) for eg in examples)
    return examples


@pytest.mark.parametrize("ents_only", [False, True], ids=["spans-and-ents", "ents-only"])
def test_the_threshold_is_scored_like_spacy_when_gold_tokens_differ(ents_only):
    """On dev docs whose gold tokenization is not the pipeline's (what
    `spacy train` gives for a corpus tokenised by other rules), the dev F the
    callback records and maximises is spaCy's own `spans_sc_f` / `ents_f`;
    with gold in `doc.ents` only, `spans_sc_f` reads it there, as the
    scorer does."""
    nlp, _ = _train_en({"annotate_ents": True}, n_iter=1)  # one update: F still depends on the threshold
    examples = _retokenised_examples(nlp, ents_only)
    settings = {"threshold": "spans_sc_f", "ents_threshold": "ents_f"}
    curves = {setting: _f_at_each_threshold(nlp, examples, setting, score) for setting, score in settings.items()}
    for setting, curve in curves.items():
        assert max(curve.values()) - min(curve.values()) > 0.05, f"{setting}: F does not depend on it here"
    chosen = set_best_thresholds(nlp, PIPE, examples, GRID)
    for setting in settings:
        curve = curves[setting]
        target = "ents" if setting == "ents_threshold" else "spans"
        assert chosen[f"{target}_f"] == pytest.approx(curve[chosen[setting]], abs=1e-6), (setting, curve)
        assert curve[chosen[setting]] == pytest.approx(max(curve.values()))
