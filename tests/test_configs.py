"""The shipped configs in configs/ are complete and train."""
import os
import re
import shlex
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin, Span
from spacy.util import load_config, load_model_from_config

from .conftest import EN_NESTED_DATA, FLAT_DATA, NESTED_DATA, SPANS_KEY, make_examples, spans_of

REPO = Path(__file__).parents[1]
CONFIG_DIR = REPO / "configs"
# `../shared` beside the repository root, as the README's commands name it.
SHARED = Path(__file__).parents[2] / "shared"
VECTORS_CONFIG = "globalpointer_tok2vec_words_vectors.cfg"
SOURCE_CONFIGS = [
    "globalpointer_source_en_core_web_md.cfg",
    "globalpointer_source_en_core_web_md_train_tok2vec.cfg",
]
CONFIGS = sorted(CONFIG_DIR.glob("*.cfg"))
ARCHITECTURES = [
    "spacy-globalpointer.GlobalPointer.v1",
    "spacy-globalpointer.EfficientGlobalPointer.v1",
]


def write_corpus(path: Path, data, ents: bool, lang: str = "zh") -> Path:
    nlp = spacy.blank(lang)
    docs = [eg.reference for eg in make_examples(nlp, data, ents=ents)]
    DocBin(docs=docs * 4, store_user_data=True).to_disk(path)
    return path


LANGS = {
    "globalpointer_tok2vec.cfg": "zh",
    "globalpointer_trf.cfg": "zh",
    "globalpointer_tok2vec_words.cfg": "en",
    "globalpointer_extractor_tok2vec.cfg": "zh",
    "globalpointer_tok2vec_words_vectors.cfg": "en",
    "globalpointer_trf_words.cfg": "en",
    "globalpointer_source_en_core_web_md.cfg": "en",
    "globalpointer_source_en_core_web_md_train_tok2vec.cfg": "en",
}


def shared_path(relative: str) -> Path:
    """A folder of ../shared; skipped where it is absent, but a failure under
    CI (env CI=true), which always has ../shared beside the repository."""
    path = SHARED / relative
    if not path.is_dir():
        reason = f"{path} is absent (../shared, beside the repository, holds the pretrained models)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true, where ../shared must be present)")
        pytest.skip(reason)
    return path


def readme_train_args(config_name: str):
    """The arguments after the config path of the one `spacy train` command
    in the README's bash blocks that trains configs/<config_name>."""
    text = (REPO / "README.md").read_text(encoding="utf8")
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:5] == ["python", "-m", "spacy", "train", f"configs/{config_name}"]:
                found.append(argv[5:])
    assert len(found) == 1, f"README: {len(found)} train commands for {config_name}"
    return found[0]


def train_as_readme(config_name: str, tmp_path: Path, corpus: Path, **test_overrides) -> Path:
    """Run the README's command for this config, run from the repository
    root: train.spacy and dev.spacy are the test corpus, ../shared paths are
    resolved beside the repository, then the test's (size) overrides apply."""
    overrides = parse_config_overrides(readme_train_args(config_name))
    assert {"paths.train", "paths.dev"} <= set(overrides)
    for key, value in overrides.items():
        if value in ("train.spacy", "dev.spacy"):
            overrides[key] = str(corpus)
        elif isinstance(value, str) and value.startswith("../shared/"):
            overrides[key] = str(shared_path(value[len("../shared/"):]))
    overrides.update(test_overrides)
    spacy_train(CONFIG_DIR / config_name, tmp_path / "out", overrides=overrides)
    return tmp_path / "out" / "model-last"


def config_without(path: Path, *dotted: str) -> dict:
    """The config (uninterpolated) with these settings removed."""
    config = load_config(path, interpolate=False)
    for name in dotted:
        *sections, key = name.split(".")
        section = config
        for part in sections:
            section = section[part]
        del section[key]
    return config


def test_configs_exist():
    assert {p.name for p in CONFIGS} == set(LANGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_validates(path):
    overrides = {}
    if path.name in SOURCE_CONFIGS:
        overrides["paths.source"] = str(shared_path("models/en_core_web_md"))
    config = load_config(path, overrides=overrides)
    nlp = load_model_from_config(config, auto_fill=False, validate=True)
    assert {"globalpointer_ner", "globalpointer_extractor"} & set(nlp.pipe_names)
    assert config["nlp"]["lang"] == LANGS[path.name]


@pytest.mark.parametrize("lang,text,tokens", [
    ("en", "Obama's tweets", ["Obama", "'s", "tweets"]),
    ("de", "Angela Merkels Rede.", ["Angela", "Merkels", "Rede", "."]),
    ("da", "Kjeld Christensen går.", ["Kjeld", "Christensen", "går", "."]),
])
def test_words_config_trains_in_other_languages(tmp_path, lang, text, tokens):
    """The word config trains on any spaCy language with `--nlp.lang`, with
    that language's tokenizer."""
    nlp = spacy.blank(lang)
    doc = nlp.make_doc(text)
    doc.spans[SPANS_KEY] = [Span(doc, 0, 1, label="PER")]
    corpus = tmp_path / "train.spacy"
    DocBin(docs=[doc] * 8).to_disk(corpus)
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), "nlp.lang": lang,
                 "training.max_steps": 4, "training.eval_frequency": 2}
    spacy_train(CONFIG_DIR / "globalpointer_tok2vec_words.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert trained.lang == lang
    assert [t.text for t in trained(text)] == tokens
    assert trained.get_pipe("globalpointer_ner").labels == ("PER",)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("annotate_ents", [False, True], ids=["nested", "flat"])
def test_tok2vec_config_trains(tmp_path, architecture, annotate_ents):
    data = FLAT_DATA if annotate_ents else NESTED_DATA
    corpus = write_corpus(tmp_path / "train.spacy", data, ents=annotate_ents)
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "vars.annotate_ents": annotate_ents,
        "components.globalpointer_ner.model.@architectures": architecture,
        "training.max_steps": 6,
        "training.eval_frequency": 3,
    }
    spacy_train(CONFIG_DIR / "globalpointer_tok2vec.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    meta = nlp.meta["performance"]
    assert "spans_sc_f" in meta and "spans_sc_per_type" in meta
    # Entity scores only where the pipe writes entities: no made-up zeros.
    assert ("ents_f" in meta and "ents_per_type" in meta) == annotate_ents
    examples = make_examples(nlp, data, ents=annotate_ents)
    assert ("ents_f" in nlp.evaluate(examples)) == annotate_ents
    doc = nlp("北京大学在北京")
    assert SPANS_KEY in doc.spans
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("pointer")
    assert head.attrs["efficient"] == architecture.endswith("EfficientGlobalPointer.v1")


def train_with_tiny_bert(config_name: str, tmp_path: Path, bert: Path, data, lang: str, **extra):
    """Train a transformer config for 4 steps with a tiny BERT by path, on CPU
    (`extra`: more overrides, dotted names)."""
    pytest.importorskip("spacy_transformers")
    corpus = write_corpus(tmp_path / "train.spacy", data, ents=False, lang=lang)
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "vars.transformer_name": str(bert),
        "system.gpu_allocator": None,
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        "training.accumulate_gradient": 1,
        **extra,
    }
    spacy_train(CONFIG_DIR / config_name, tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["transformer", "globalpointer_ner"]
    return nlp


def test_transformer_config_trains_with_tiny_bert(tmp_path, tiny_bert):
    config = load_config(CONFIG_DIR / "globalpointer_trf.cfg")
    assert config["vars"]["transformer_name"] == "bert-base-chinese"
    nlp = train_with_tiny_bert("globalpointer_trf.cfg", tmp_path, tiny_bert, NESTED_DATA, "zh")
    doc = nlp("北京大学在北京")
    assert SPANS_KEY in doc.spans
    assert doc._.trf_data is not None


@pytest.mark.parametrize(
    "loss",
    [
        ["--vars.loss", "spacy-globalpointer.SpanSoftmaxLoss.v1"],
        ["--vars.loss", "spacy-globalpointer.ExpectedF1Loss.v1",
         "--components.globalpointer_extractor.loss.entropy_weight", "0.1"],
        ["--vars.loss", "spacy-globalpointer.MultiLabelAnswerLoss.v1"],
    ],
    ids=["softmax", "expected_f1", "multilabel"],
)
def test_extractor_config_trains(tmp_path, loss):
    """The single-answer config trains from question docs in a DocBin: the
    corpus reader re-tokenizes them, so the context comes from the reference
    in training and from the separator at evaluation."""
    from spacy.cli._util import parse_config_overrides
    from spacy_globalpointer import make_question_doc

    nlp = spacy.blank("zh")
    data = [("谁发明了电话？", "贝尔发明了电话。", (0, 2)), ("北京在哪里？", "北京位于华北平原。", (4, 8))]
    docs = []
    for question, context, answer in data:
        doc = make_question_doc(nlp, question, context, answers={"ANSWER": answer})
        doc.user_data["answers"] = {"ANSWER": [context[answer[0]:answer[1]]]}
        docs.append(doc)
    corpus = tmp_path / "train.spacy"
    DocBin(docs=docs * 4, store_user_data=True).to_disk(corpus)
    overrides = parse_config_overrides(loss)
    overrides.update({
        "paths.train": str(corpus), "paths.dev": str(corpus),
        "training.max_steps": 6, "training.eval_frequency": 3,
    })
    spacy_train(CONFIG_DIR / "globalpointer_extractor_tok2vec.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.pipe_names == ["tok2vec", "globalpointer_extractor"]
    assert {"answer_f1", "answer_em"} <= set(trained.meta["performance"])
    doc = trained(make_question_doc(trained, "谁发明了电话？", "贝尔发明了电话。"))
    (span,) = doc.spans["answer"]
    assert span.start >= 12  # in the context, not in the question


# ---------------------------------------------------------------- pretrained regime


def test_words_vectors_config_is_the_words_config_with_vectors():
    """Only the vectors differ, so the two are comparable; the default names
    the package as `spacy init config --optimize accuracy` does."""
    embed = "components.tok2vec.model.embed.include_static_vectors"
    vectors = load_config(CONFIG_DIR / VECTORS_CONFIG, interpolate=False)
    assert vectors["paths"]["vectors"] == "en_core_web_md"
    assert vectors["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] is True
    assert vectors["initialize"]["vectors"] == "${paths.vectors}"
    assert config_without(CONFIG_DIR / VECTORS_CONFIG, "paths.vectors", embed) == (
        config_without(CONFIG_DIR / "globalpointer_tok2vec_words.cfg", "paths.vectors", embed)
    )


def test_words_vectors_config_trains_with_tiny_vectors(tmp_path):
    """A vectors table of 8 dimensions for a few words, saved as a blank
    pipeline and passed as --paths.vectors: the model reads it."""
    vectors_nlp = spacy.blank("en")
    words = sorted({w for text, _ in EN_NESTED_DATA for w in text.split()})
    rng = numpy.random.default_rng(0)
    for word in words:
        vectors_nlp.vocab.set_vector(word, rng.normal(size=8).astype("float32"))
    vectors_nlp.to_disk(tmp_path / "vectors")
    corpus = write_corpus(tmp_path / "train.spacy", EN_NESTED_DATA, ents=False, lang="en")
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus),
                 "paths.vectors": str(tmp_path / "vectors"),
                 "training.max_steps": 4, "training.eval_frequency": 2}
    spacy_train(CONFIG_DIR / VECTORS_CONFIG, tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert trained.vocab.vectors.n_keys == len(words) and trained.vocab.vectors.shape[1] == 8
    tok2vec = trained.get_pipe("tok2vec").model
    assert any(node.name == "static_vectors" for node in tok2vec.walk())
    assert SPANS_KEY in trained("Barack Obama visited Berlin").spans


def test_words_vectors_readme_command_with_en_core_web_md(tmp_path):
    """The README's command, with the real en_core_web_md vectors by path."""
    corpus = write_corpus(tmp_path / "train.spacy", EN_NESTED_DATA, ents=False, lang="en")
    model = train_as_readme(VECTORS_CONFIG, tmp_path, corpus,
                            **{"training.max_steps": 2, "training.eval_frequency": 2})
    trained = spacy.load(model)
    assert trained.vocab.vectors.shape == (20000, 300)
    assert SPANS_KEY in trained("Barack Obama visited Berlin").spans


def test_trf_words_config_defaults():
    """English with spaCy's tokenizer, a hub name as the default (what
    `spacy init config -G -l en` picks) in a variable, and the -G schedule
    decaying to 0 at whatever `max_steps` is."""
    path = CONFIG_DIR / "globalpointer_trf_words.cfg"
    config = load_config(path, interpolate=False)
    assert config["vars"]["transformer_name"] == "roberta-base"
    assert config["components"]["transformer"]["model"]["name"] == "${vars.transformer_name}"
    assert config["nlp"]["tokenizer"] == {"@tokenizers": "spacy.Tokenizer.v1"}
    assert config["initialize"]["tokenizer"] == {}
    filled = load_config(path, overrides={"training.max_steps": 1200}, interpolate=True)
    schedule = filled["training"]["optimizer"]["learn_rate"]
    assert schedule == {"@schedules": "warmup_linear.v1", "warmup_steps": 250, "total_steps": 1200,
                        "initial_rate": 5e-05}
    # Everything else is the Chinese transformer config's.
    differ = ["vars.transformer_name", "nlp.lang", "nlp.tokenizer", "initialize.tokenizer",
              "training.optimizer.learn_rate.total_steps"]
    chinese = config_without(CONFIG_DIR / "globalpointer_trf.cfg", *differ)
    assert config_without(path, *differ) == chinese


def test_trf_words_config_trains_with_tiny_bert(tmp_path, tiny_bert_en):
    nlp = train_with_tiny_bert(
        "globalpointer_trf_words.cfg", tmp_path, tiny_bert_en, EN_NESTED_DATA, "en"
    )
    doc = nlp("Obama's tweets about Chicago")
    assert [t.text for t in doc] == ["Obama", "'s", "tweets", "about", "Chicago"]
    assert SPANS_KEY in doc.spans
    (pieces,) = doc._.trf_data.wordpieces.strings
    assert "obama" in pieces and "[UNK]" not in pieces  # word pieces, lower-cased


def test_trf_words_config_trains_the_efficient_head_at_10x(tmp_path, tiny_bert_en):
    """The README's overrides for the Efficient head on a fine-tuned
    transformer: the architecture and `learn_rate_scale = 10.0`, kept in the
    trained pipeline's config and used by its head."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf8").split())
    found = re.findall(r"`(--components\.globalpointer_ner\.model\.@architectures [^`]+ "
                       r"--components\.globalpointer_ner\.model\.learn_rate_scale [^`]+)`", readme)
    assert len(found) == 1, f"README: {len(found)} Efficient-head override snippets"
    overrides = parse_config_overrides(found[0].split())
    nlp = train_with_tiny_bert("globalpointer_trf_words.cfg", tmp_path, tiny_bert_en, EN_NESTED_DATA, "en",
                               **overrides)
    model_config = nlp.config["components"]["globalpointer_ner"]["model"]
    assert model_config["@architectures"] == "spacy-globalpointer.EfficientGlobalPointer.v1"
    assert model_config["learn_rate_scale"] == 10.0
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("pointer")
    assert head.attrs["efficient"] and head.attrs["learn_rate_scale"] == 10.0
    assert SPANS_KEY in nlp("Obama's tweets about Chicago").spans


def test_use_averages_with_a_transformer_averages_the_head_only(tiny_bert_en):
    """What the README says of `use_averages = true` with the transformer
    configs: thinc 8.3 keeps averages of the transformer's PyTorch weights
    too, but `use_params` (how spaCy evaluates and saves with the averages)
    does not find them under the keys they were stored with, so the
    transformer runs with its last weights and only the head's thinc weights
    are averaged. If this test fails, thinc has changed: update the README."""
    pytest.importorskip("spacy_transformers")
    config = load_config(CONFIG_DIR / "globalpointer_trf_words.cfg", overrides={
        "vars.transformer_name": str(tiny_bert_en), "system.gpu_allocator": None,
        "training.optimizer.use_averages": True}, interpolate=True)
    nlp = load_model_from_config(config, auto_fill=True)
    examples = make_examples(nlp, EN_NESTED_DATA[:3], key=SPANS_KEY)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(4):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    assert any(isinstance(key, tuple) for key in optimizer.averages), "no PyTorch averages kept"
    pointer = nlp.get_pipe("globalpointer_ner").model.get_ref("pointer")
    text = EN_NESTED_DATA[0][0]

    def weights_and_output():
        head = {name: pointer.get_param(name).copy() for name in pointer.param_names}
        hidden = numpy.array(nlp(text)._.trf_data.model_output.last_hidden_state)
        return head, hidden

    head, hidden = weights_and_output()
    with nlp.use_params(optimizer.averages):
        avg_head, avg_hidden = weights_and_output()
    assert any(not numpy.allclose(head[name], avg_head[name]) for name in head), "head not averaged"
    assert numpy.array_equal(hidden, avg_hidden), "the transformer's weights were averaged"


def test_trf_words_readme_command_with_minilm(tmp_path):
    """The README's command, with the real all-MiniLM-L6-v2 by path."""
    pytest.importorskip("spacy_transformers")
    corpus = write_corpus(tmp_path / "train.spacy", EN_NESTED_DATA, ents=False, lang="en")
    model = train_as_readme("globalpointer_trf_words.cfg", tmp_path, corpus, **{
        "training.max_steps": 2, "training.eval_frequency": 2, "training.accumulate_gradient": 1})
    nlp = spacy.load(model)
    doc = nlp("Barack Obama visited Berlin")
    assert SPANS_KEY in doc.spans
    assert doc._.trf_data.model_output.last_hidden_state.shape[-1] == 384


# Sentences whose analysis must not change; "colour" and "grey" need the
# source's lexeme_norm table (NORM "color", "gray").
SOURCE_SENTENCES = [
    "The colour of Apple is grey in the U.K. startup for $1 billion.",
    "Angela Merkel met Barack Obama in Berlin on Monday.",
    "She was reading the papers of the University of Chicago.",
]


def analysis(doc):
    tokens = [
        (t.text, t.tag_, t.pos_, t.dep_, t.head.i, t.lemma_, t.ent_iob_, t.ent_type_) for t in doc
    ]
    return tokens, [(e.start, e.end, e.label_) for e in doc.ents]


@pytest.fixture(scope="module")
def en_core_web_md():
    path = shared_path("models/en_core_web_md")
    nlp = spacy.load(path)
    return nlp, [analysis(doc) for doc in nlp.pipe(SOURCE_SENTENCES)]


@pytest.mark.parametrize("config_name", SOURCE_CONFIGS)
def test_source_en_core_web_md_readme_command(tmp_path, en_core_web_md, config_name):
    """The README's commands: globalpointer_ner is added to en_core_web_md and
    learns the tiny corpus, while tagger, parser, lemmatizer and ner give
    en_core_web_md's own output; the tok2vec is unchanged when frozen and
    trained (for globalpointer_ner alone) otherwise."""
    source, before = en_core_web_md
    frozen = config_name == "globalpointer_source_en_core_web_md.cfg"
    corpus = write_corpus(tmp_path / "train.spacy", EN_NESTED_DATA, ents=False, lang="en")
    model = train_as_readme(config_name, tmp_path, corpus, **{
        "training.max_steps": 40, "training.eval_frequency": 20,
        "training.optimizer.learn_rate": 0.01})
    trained = spacy.load(model)
    assert trained.pipe_names == source.pipe_names + ["globalpointer_ner"]
    assert trained.disabled == ["senter"]
    assert [analysis(doc) for doc in trained.pipe(SOURCE_SENTENCES)] == before
    tok2vec = trained.get_pipe("tok2vec")
    same_weights = tok2vec.model.to_bytes() == source.get_pipe("tok2vec").model.to_bytes()
    assert same_weights == frozen
    listeners = ["tagger", "parser", "globalpointer_ner"] if frozen else ["globalpointer_ner"]
    assert sorted(tok2vec.listening_components) == sorted(listeners)
    predicted = [spans_of(trained(text)) for text, _ in EN_NESTED_DATA]
    assert any(predicted), "globalpointer_ner predicts no span on its training sentences"


def test_source_configs_differ_only_in_what_trains():
    """Frozen: the tok2vec is frozen and annotates. Trained alongside: it
    trains, and tagger and parser keep copies of it (replace_listeners)."""
    frozen, trained = (load_config(CONFIG_DIR / name, interpolate=False) for name in SOURCE_CONFIGS)
    assert frozen["training"]["annotating_components"] == ["tok2vec"]
    assert trained["training"]["annotating_components"] == []
    frozen_lists = [config["training"]["frozen_components"] for config in (frozen, trained)]
    assert frozen_lists[0] == ["tok2vec"] + frozen_lists[1]
    replacing = [n for n, c in trained["components"].items() if "replace_listeners" in c]
    assert replacing == ["tagger", "parser"]
    assert all("replace_listeners" not in c for c in frozen["components"].values())
    assert trained["components"]["tagger"]["replace_listeners"] == ["model.tok2vec"]
    differ = ["training.annotating_components", "training.frozen_components",
              "components.tagger.replace_listeners", "components.parser.replace_listeners"]
    assert config_without(CONFIG_DIR / SOURCE_CONFIGS[1], *differ) == config_without(
        CONFIG_DIR / SOURCE_CONFIGS[0], *differ[:2])


def test_shared_models_missing_fails_under_ci(monkeypatch, tmp_path):
    """Without ../shared a test skips, except under CI, where it fails."""
    monkeypatch.setattr(sys.modules[__name__], "SHARED", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared_path("models/en_core_web_md")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="absent"):
        shared_path("models/en_core_web_md")


def test_globalpointer_ner_configs_choose_the_threshold_on_dev():
    """Every shipped globalpointer_ner config sets the threshold on the dev
    set at each checkpoint (the extractor has no threshold)."""
    for path in CONFIGS:
        config = load_config(path, interpolate=False)
        factories = {block.get("factory") for block in config["components"].values()}
        callback = config["training"]["before_to_disk"]
        if "globalpointer_ner" in factories:
            assert callback == {"@callbacks": "spacy-globalpointer.tune_threshold.v1"}, path.name
        else:
            assert callback is None, path.name
