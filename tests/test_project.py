"""A tiny run of the spaCy project's workflows, so that they cannot rot: a few
synthetic sentences in the real corpus formats, a few training steps."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from weasel.cli.run import project_run

REPO = Path(__file__).parent.parent
PROJECT = REPO / "project"

CLUENER_LINES = [
    {"text": "浙商银行企业信贷部叶老桂博士", "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}},
    {"text": "生生不息CSOL生化狂潮", "label": {"game": {"CSOL": [[4, 7]]}}},
    {"text": "北京大学的张三去了杭州", "label": {"organization": {"北京大学": [[0, 3]]}, "name": {"张三": [[5, 6]]}, "address": {"杭州": [[9, 10]]}}},
    {"text": "今天天气很好", "label": {}},
]
CMEEE_RECORDS = [
    {"text": "对儿童SARST细胞亚群的研究表明", "entities": [
        {"start_idx": 3, "end_idx": 11, "type": "bod", "entity": "SARST细胞亚群"},
        {"start_idx": 8, "end_idx": 9, "type": "bod", "entity": "细胞"},
    ]},
    {"text": "研究证实，细胞减少与肺内病变程度相关。", "entities": [
        {"start_idx": 5, "end_idx": 8, "type": "sym", "entity": "细胞减少"},
        {"start_idx": 10, "end_idx": 10, "type": "bod", "entity": "肺"},
    ]},
]

CMRC_ARTICLES = [
    {"id": "DEV_0", "title": "电话", "paragraphs": [{"id": "DEV_0", "context": "贝尔发明了电话。", "qas": [
        {"id": "DEV_0_QUERY_0", "question": "谁发明了电话？",
         "answers": [{"text": "贝尔", "answer_start": 0}, {"text": "贝尔", "answer_start": 0}]},
    ]}]},
    {"id": "DEV_1", "title": "北京", "paragraphs": [{"id": "DEV_1", "context": "北京位于华北平原的北部。", "qas": [
        {"id": "DEV_1_QUERY_0", "question": "北京在哪里？",
         "answers": [{"text": "华北平原", "answer_start": 3}]},  # wrong offset: relocated
    ]}]},
]


WNUT_SENTENCES = [
    [("@paulwalk", "O"), ("It", "O"), ("'s", "O"), ("in", "O"), ("New", "B-location"), ("York", "I-location")],
    [("Obama", "B-person"), ("tweets", "O"), ("about", "O"), ("Star", "B-creative-work"), ("Wars", "I-creative-work")],
]


@pytest.fixture
def project_copy(tmp_path):
    """The project and the configs it refers to (../configs), copied so the
    run writes nothing into the repository."""
    root = tmp_path / "project"
    shutil.copytree(
        PROJECT,
        root,
        ignore=shutil.ignore_patterns(
            "corpus", "training", "metrics", "packages", "visualize", "project.lock", "runs", "assets"
        ),
    )
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    data = tmp_path / "data"
    (data / "cluener").mkdir(parents=True)
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in CLUENER_LINES * 3)
    for split in ("train", "dev"):
        (data / "cluener" / f"{split}.json").write_text(lines + "\n", encoding="utf8")
    (data / "cmeee_v2").mkdir()
    records = json.dumps(CMEEE_RECORDS * 10, ensure_ascii=False, indent=2)
    (data / "cmeee_v2" / "CMeEE-V2_dev.json").write_text(records, encoding="utf8")
    (data / "cmrc2018").mkdir()
    for name, articles in (("dev", CMRC_ARTICLES * 5), ("trial", CMRC_ARTICLES)):
        squad = {"version": "v1.0", "data": [
            dict(a, id=f"{a['id']}_{i}") for i, a in enumerate(articles)
        ]}
        (data / "cmrc2018" / f"cmrc2018_{name}.json").write_text(
            json.dumps(squad, ensure_ascii=False), encoding="utf8"
        )
    (data / "wnut17").mkdir()
    conll = "".join("".join(f"{w}\t{t}\n" for w, t in sent) + "\n" for sent in WNUT_SENTENCES)
    for name in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"):
        (data / "wnut17" / name).write_text(conll * 3, encoding="utf8")
    return root, data


def run(root: Path, data: Path, workflow: str) -> None:
    overrides = {
        "vars.data_dir": str(data),
        "vars.max_steps": 4,
        "vars.eval_frequency": 2,
        "vars.vis_limit": 3,
        "vars.cmrc_max_steps": 4,
        "vars.cmrc_batch_words": 200,
    }
    project_run(root, workflow, overrides=overrides, capture=True)


def test_project_workflow_all(project_copy):
    root, data = project_copy
    run(root, data, "all")
    model = root / "training" / "cluener" / "globalpointer_tok2vec" / "model-best"
    nlp = spacy.load(model)
    assert nlp.get_pipe("globalpointer_ner").cfg["annotate_ents"] is True
    metrics = list((root / "metrics").rglob("*.json"))
    assert len(metrics) == 1
    scores = json.loads(metrics[0].read_text(encoding="utf8"))
    assert "ents_per_type" in scores and "spans_sc_per_type" in scores
    wheels = list((root / "packages").rglob("*.whl"))
    assert len(wheels) == 1
    assert "spacy-globalpointer" in _wheel_requirements(wheels[0])
    _install_and_load(wheels[0], root.parent / "fresh-env", "zh_cluener_globalpointer_tok2vec")
    html = (root / "visualize" / "cluener.html").read_text(encoding="utf8")
    assert "company" in html and "浙" in html  # gold label and text of the first test doc
    # Batch annotation of the test texts with the trained model: one row each.
    run(root, data, "annotate")
    import pyarrow.parquet as pq

    n_test = len(list(spacy.tokens.DocBin().from_disk(root / "corpus" / "cluener" / "test.spacy").get_docs(nlp.vocab)))
    rows = pq.read_table(root / "annotate" / "cluener_globalpointer_tok2vec").to_pylist()
    assert [row["id"] for row in rows] == [f"test-{i}" for i in range(n_test)]


def test_project_workflow_nested(project_copy):
    root, data = project_copy
    run(root, data, "nested")
    model = root / "training" / "cmeee_v2" / "globalpointer_tok2vec" / "model-best"
    nlp = spacy.load(model)
    assert nlp.get_pipe("globalpointer_ner").cfg["annotate_ents"] is False
    assert (root / "visualize" / "cmeee_v2.html").exists()


def test_project_workflow_cmrc(project_copy):
    root, data = project_copy
    run(root, data, "cmrc")
    report = json.loads((root / "corpus" / "cmrc2018" / "report.json").read_text(encoding="utf8"))
    assert report["files"]["dev"]["relocated"] == 5
    nlp = spacy.load(root / "training" / "cmrc2018" / "globalpointer_extractor_tok2vec" / "model-best")
    assert nlp.pipe_names == ["tok2vec", "globalpointer_extractor"]
    for split in ("test", "trial"):
        path = root / "metrics" / f"cmrc2018_{split}_globalpointer_extractor_tok2vec.json"
        scores = json.loads(path.read_text(encoding="utf8"))
        assert 0.0 <= scores["answer_f1"] <= 1.0 and 0.0 <= scores["answer_em"] <= 1.0
def test_project_workflow_words(project_copy):
    root, data = project_copy
    run(root, data, "words")
    nlp = spacy.load(root / "training" / "wnut17" / "globalpointer_tok2vec_words" / "model-best")
    assert nlp.lang == "en" and nlp.pipe_names == ["tok2vec", "globalpointer_ner"]
    assert [t.text for t in nlp("Obama's tweets")] == ["Obama", "'s", "tweets"]  # spaCy's English tokenizer
    scores = json.loads((root / "metrics" / "wnut17_globalpointer_tok2vec_words.json").read_text(encoding="utf8"))
    assert "ents_f" in scores and "spans_sc_f" in scores


def _install_and_load(wheel: Path, env: Path, package: str) -> None:
    """Install the packaged pipeline into a new virtual environment and load it
    there by name, as a user of the wheel would. The environment sees this
    one's packages through a .pth file (nothing may be downloaded here), so
    pip checks the wheel's requirements against them instead of skipping them."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    outer = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "outer_env.pth").write_text("\n".join(outer) + "\n", encoding="utf8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--quiet", str(wheel)],
        check=True,
    )
    code = (
        f"import spacy; nlp = spacy.load({package!r}); doc = nlp('北京大学的张三去了杭州'); "
        "print(nlp.pipe_names, len(doc.spans['sc']) >= 0)"
    )
    result = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    assert "'globalpointer_ner'] True" in result.stdout
    installed = subprocess.run(
        [str(python), "-c", f"import {package}; print({package}.__file__)"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert str(env) in installed  # loaded from the new environment, not from this one


def _wheel_requirements(wheel: Path) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith("METADATA"))
        return zf.read(name).decode("utf8")


# ---------------------------------------------------------------------------
# The benchmark's configs in the pretrained regimes (scripts/benchmark.py)

BENCH_COMPONENTS = ("globalpointer_ner", "ner", "spancat")
EN_DATA = [
    ("Obama visited New York", [(0, 5, "PER"), (14, 22, "LOC")]),
    ("She met Angela Merkel in Berlin today", [(8, 21, "PER"), (25, 31, "LOC")]),
]


def _benchmark():
    from scripts import benchmark  # project/ is on sys.path (conftest.py)

    return benchmark


@pytest.mark.parametrize("regime,family", [("cpu", "chars"), ("cpu", "words"), ("vectors", "words"),
                                           ("minilm", "words")])
def test_benchmark_components_share_tokenizer_encoder_schedule(regime, family):
    from spacy.util import load_config, load_model_from_config

    bench = _benchmark()
    configs = [bench.config_of(c, family, regime) for c in BENCH_COMPONENTS]
    assert bench.differing_blocks(configs, bench.regime_overrides(regime, 100, "model")) == []
    for component, path in zip(BENCH_COMPONENTS, configs):
        if path.exists() or component != "globalpointer_ner":  # GlobalPointer's trf words config ships apart
            nlp = load_model_from_config(load_config(path), auto_fill=False, validate=True)
            assert component in nlp.pipe_names


def test_benchmark_shared_overrides():
    """`benchmark run --set` turns SECTION.KEY=VALUE into the same `spacy
    train` flags for every component, the configs' shared blocks still agree
    with one another under them, the values parse as the configs read them,
    and malformed overrides are refused."""
    bench = _benchmark()
    flags = bench.shared_overrides(["training.optimizer.use_averages=true", "training.dropout=0.2"])
    assert flags == ["--training.optimizer.use_averages", "true", "--training.dropout", "0.2"]
    configs = [bench.config_of(c, "words", "vectors") for c in BENCH_COMPONENTS]
    assert bench.differing_blocks(configs, bench.regime_overrides("vectors", 100, "model") + flags) == []
    assert bench._flags_to_overrides(flags) == {"training.optimizer.use_averages": True, "training.dropout": 0.2}
    for bad in ("use_averages=true", "training.dropout", "=1"):
        with pytest.raises(SystemExit, match="SECTION.KEY=VALUE"):
            bench.shared_overrides([bad])


def _tiny_vectors(path: Path) -> Path:
    import numpy

    nlp = spacy.blank("en")
    for i, word in enumerate("Obama visited New York She met Angela Merkel in Berlin today".split()):
        nlp.vocab.set_vector(word, numpy.full((8,), 0.1 * i, dtype="float32"))
    nlp.to_disk(path)
    return path


@pytest.mark.parametrize("regime", ["vectors", "minilm"])
@pytest.mark.parametrize("component", BENCH_COMPONENTS)
def test_benchmark_regime_configs_train(tmp_path, regime, component, tiny_bert):
    """Each component's config of the regime trains with the overrides the
    benchmark gives it, on a tiny local model in place of the real one."""
    from spacy.cli.train import train as spacy_train
    from spacy.tokens import DocBin

    bench = _benchmark()
    path = bench.config_of(component, "words", regime)
    if not path.exists():
        pytest.skip(f"{path.name} ships apart")
    if regime == "minilm":
        pytest.importorskip("spacy_transformers")
    model = str(_tiny_vectors(tmp_path / "vectors") if regime == "vectors" else tiny_bert)
    nlp = spacy.blank("en")
    docs = []
    for text, spans in EN_DATA:
        doc = nlp.make_doc(text)
        doc.spans["sc"] = doc.ents = [doc.char_span(s, e, label=label) for s, e, label in spans]
        docs.append(doc)
    corpus = tmp_path / "train.spacy"
    DocBin(docs=docs * 3).to_disk(corpus)
    overrides = bench._flags_to_overrides(bench.regime_overrides(regime, 4, model))
    overrides.update({"paths.train": str(corpus), "paths.dev": str(corpus), "training.max_steps": 4,
                      "training.eval_frequency": 2, "system.gpu_allocator": None})
    spacy_train(path, tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert component in trained.pipe_names
    if regime == "vectors":
        assert trained.vocab.vectors.shape[1] == 8  # the static vectors are in the pipeline


def _project_benchmark_runs():
    """(command name, argv, outputs) of every `scripts.benchmark run` line of
    project.yml, with the project's ${vars.*} filled in."""
    import re
    import shlex

    import srsly

    project = srsly.read_yaml(PROJECT / "project.yml")
    variables = project["vars"]
    for command in project["commands"]:
        outputs = set(command.get("outputs", [])) | set(command.get("outputs_no_cache", []))
        for line in command.get("script", []):
            line = re.sub(r"\$\{vars\.(\w+)\}", lambda m: str(variables[m.group(1)]), line)
            argv = shlex.split(line)
            if argv[:4] == ["python", "-m", "scripts.benchmark", "run"]:
                yield command["name"], argv[4:], outputs


def test_project_benchmark_commands_reproduce_the_committed_results():
    """Every `benchmark run` of project.yml parses, names known corpora and
    variants, lists the JSON it writes among its command's outputs, and where
    that JSON is committed, the command's steps and seeds are the ones its
    runs were made with: the project commands reproduce the tables."""
    import typer

    bench = _benchmark()
    run = typer.main.get_command(bench.app).commands["run"]
    checked = 0
    for name, argv, outputs in _project_benchmark_runs():
        params = run.make_context("run", list(argv)).params
        assert params["corpus"] in bench.CORPORA, (name, argv)
        spec = bench.CORPORA[params["corpus"]]
        variants = bench.variant_names(params["variants"], spec)
        assert set(variants) <= set(bench.VARIANTS), (name, variants)
        assert not params["sets"] or params["tag"], (name, "--set needs --tag")
        tag = bench.regime_tag(params["regime"], params["tag"])
        out_dir = Path(params["out_dir"])
        out_dir = out_dir.relative_to(PROJECT) if out_dir.is_absolute() else out_dir
        written = bench._result_path(out_dir, params["corpus"], tag).as_posix()
        assert written in outputs, (name, written, "not among the command's outputs")
        path = PROJECT / written
        if not path.exists():
            continue
        result = bench.read_json(path)
        seeds = {s for s in params["seeds"].split(",") if s}
        steps = params["steps"] or spec["steps"]
        for variant in variants:
            runs = result.get("variants", {}).get(variant, {}).get("runs", {})
            for seed, run_ in runs.items():
                assert seed in seeds, (name, written, variant, f"seed {seed} is not among the command's {seeds}")
                assert run_["steps"] == steps, (name, written, variant, seed, run_["steps"], steps)
                checked += 1
    assert checked > 100
