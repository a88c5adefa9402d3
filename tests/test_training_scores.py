"""What `spacy train` shows and saves for `globalpointer_ner`: the columns of
the scores the component really reports, checkpoints chosen by the score of
its output, and no made-up zeros in meta.json, whatever the key and mode."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.util import load_config

from .conftest import FLAT_DATA, NESTED_DATA, make_examples

CONFIG = Path(__file__).parent.parent / "configs" / "globalpointer_tok2vec.cfg"


def _corpus(tmp_path: Path, data, key: str, ents: bool) -> Path:
    nlp = spacy.blank("zh")
    docs = [eg.reference for eg in make_examples(nlp, data * 3, ents=ents, key=key)]
    path = tmp_path / "data.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def _train(tmp_path, capsys, data_path, config=None, **overrides):
    """Run spaCy's training loop; return the logged header line, the best
    model's meta.json and its config."""
    config_path = CONFIG
    if config is not None:
        config_path = tmp_path / "config.cfg"
        config.to_disk(config_path)
    settings = {
        "paths.train": str(data_path), "paths.dev": str(data_path),
        "training.max_steps": 40, "training.eval_frequency": 20,
        "training.batcher.size.start": 1000, "training.batcher.size.stop": 1000,
        "training.optimizer.learn_rate": 0.01,
    }
    settings.update(overrides)
    out = tmp_path / "out"
    train(config_path, out, overrides=settings)
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("E "))
    best = out / "model-best"
    meta = json.loads((best / "meta.json").read_text(encoding="utf8"))
    return header.split(), meta, load_config(best / "config.cfg")


def test_nested_with_other_key(tmp_path, capsys):
    data = _corpus(tmp_path, NESTED_DATA, key="entities", ents=False)
    columns, meta, config = _train(tmp_path, capsys, data, **{"vars.spans_key": "entities"})
    # The logger cuts long names: SPANS_ENTITIES_F/P/R print as SPANS_ENTI...
    assert sum(c.startswith("SPANS_ENTI") for c in columns) == 3
    assert not any(c.startswith(("SPANS_SC", "ENTS")) for c in columns)
    perf = meta["performance"]
    assert {k for k in perf if not k.endswith("_loss")} == {
        "spans_entities_f", "spans_entities_p", "spans_entities_r", "spans_entities_per_type"
    }
    assert perf["spans_entities_f"] > 0.0  # the checkpoint was chosen by a real score
    assert config["training"]["score_weights"]["spans_entities_f"] == 1.0


def test_flat_picks_checkpoints_by_entity_f(tmp_path, capsys):
    data = _corpus(tmp_path, FLAT_DATA, key="sc", ents=True)
    columns, meta, config = _train(tmp_path, capsys, data, **{"vars.annotate_ents": True})
    for col in ("ENTS_F", "ENTS_P", "ENTS_R", "SPANS_SC_F"):
        assert col in columns
    weights = config["training"]["score_weights"]
    assert weights["ents_f"] == 1.0 and weights["spans_sc_f"] == 0.0
    assert meta["performance"]["ents_f"] > 0.0


def test_two_instances_with_different_keys(tmp_path, capsys):
    nlp = spacy.blank("zh")
    docs = []
    for eg in make_examples(nlp, NESTED_DATA * 3, key="a"):
        ref = eg.reference
        ref.spans["b"] = list(ref.spans["a"])
        docs.append(ref)
    data = tmp_path / "data.spacy"
    DocBin(docs=docs).to_disk(data)
    config = load_config(CONFIG)
    config["nlp"]["pipeline"] = ["tok2vec", "gp_a", "gp_b"]
    component = config["components"].pop("globalpointer_ner")
    for key in ("a", "b"):
        config["components"][f"gp_{key}"] = dict(component, spans_key=key)
    columns, meta, saved = _train(tmp_path, capsys, data, config=config)
    assert "SPANS_A_F" in columns and "SPANS_B_F" in columns
    assert not any(c.startswith(("SPANS_SC", "ENTS")) for c in columns)
    weights = saved["training"]["score_weights"]
    assert weights["spans_a_f"] == weights["spans_b_f"] == 0.5


def test_dead_score_weights_are_removed_with_a_warning(tmp_path, capsys):
    data = _corpus(tmp_path, NESTED_DATA, key="entities", ents=False)
    config = load_config(CONFIG)
    config["training"]["score_weights"] = {"spans_sc_f": 1.0, "ents_f": 0.0}
    with pytest.warns(UserWarning, match=r"GPW006.*spans_sc_f.*ents_f"):
        columns, meta, saved = _train(tmp_path, capsys, data, config=config, **{"vars.spans_key": "entities"})
    assert "spans_sc_f" not in meta["performance"] and "ents_f" not in meta["performance"]
    assert saved["training"]["score_weights"]["spans_entities_f"] == 1.0
