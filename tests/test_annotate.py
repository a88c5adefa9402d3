"""Batch annotation (`spacy_globalpointer.annotate`): both engines against
`nlp.pipe`, row errors, a killed Ray worker, bad input, and the input shards.

The Ray tests share one local cluster with 2 CPUs, started once per session
and shut down at its end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
from thinc.api import fix_random_seed
from typer.testing import CliRunner

from spacy_globalpointer.annotate import AnnotateError, annotate, output_schema
from spacy_globalpointer.annotate import sources
from spacy_globalpointer.__main__ import app as package_app
from spacy_globalpointer.annotate.__main__ import app

from .annotate_components import FAIL_MARK
from .conftest import FLAT_DATA, NESTED_DATA, make_examples

CODE = str(Path(__file__).parent / "annotate_components.py")
N_TEXTS = 240
# Input lines that cannot be annotated, by row: a text that makes a component
# raise, a null text, a number, a line that is not JSON.
BAD_LINES = {
    7: json.dumps({"text": "北京" + FAIL_MARK}, ensure_ascii=False),
    50: '{"text": null}',
    51: '{"text": 12}',
    52: "{not json",
}


def make_texts(n: int = N_TEXTS):
    """n texts built from the training sentences, every 20th one empty."""
    base = [t for t, _ in FLAT_DATA + NESTED_DATA if t]
    return ["" if i % 20 == 3 else base[i % len(base)] + base[(i * 7) % len(base)][: i % 5] for i in range(n)]


def train_pipeline():
    """A tiny flat pipeline (doc.spans and doc.ents), trained for a few steps."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"annotate_ents": True})
    examples = make_examples(nlp, FLAT_DATA, ents=True)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Pipeline folders: the trained pipeline, the same with a component that
    raises on FAIL_MARK, one that kills its process once, one without our
    component and one with two of them."""
    sys.path.insert(0, str(Path(CODE).parent))  # registers the test components
    import annotate_components  # noqa: F401

    root = tmp_path_factory.mktemp("annotate_models")
    nlp = train_pipeline()
    nlp.to_disk(root / "plain")
    nlp.add_pipe("annotate_test_fail")
    nlp.to_disk(root / "fail")
    nlp.remove_pipe("annotate_test_fail")
    trigger = make_texts()[130]
    nlp.add_pipe("annotate_test_die", config={"marker": str(root / "died"), "trigger": trigger})
    nlp.to_disk(root / "die")
    nlp.remove_pipe("annotate_test_die")  # the same, dying on every try
    nlp.add_pipe("annotate_test_die", config={"marker": "", "trigger": trigger})
    nlp.to_disk(root / "die_always")
    no_gp = spacy.blank("zh")
    no_gp.add_pipe("sentencizer")
    no_gp.to_disk(root / "no_gp")
    two = spacy.load(root / "plain")
    second = two.add_pipe("globalpointer_ner", name="second", config={"spans_key": "other"})
    second.from_bytes(two.get_pipe("globalpointer_ner").to_bytes())
    second.cfg.update(spans_key="other", annotate_ents=False)
    two.to_disk(root / "two")
    return root


def expected_rows(model: Path, texts):
    """The span records of each text, made directly with `nlp.pipe`."""
    nlp = spacy.load(model)
    rows = {}
    for i, doc in enumerate(nlp.pipe(texts)):
        ents = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        group = doc.spans["sc"]
        rows[i] = [
            (s.start_char, s.end_char, s.label_, float(score), (s.start_char, s.end_char, s.label_) in ents)
            for s, score in zip(group, group.attrs["scores"])
        ]
    return rows


def read_rows(output: Path):
    """The rows of an output folder of either format, in file order."""
    if list(output.glob("*.jsonl")):
        rows = []
        for path in sorted(output.glob("part-*.jsonl")):
            rows.extend(json.loads(line) for line in path.read_text(encoding="utf8").splitlines())
        return rows
    return pq.read_table(output).to_pylist()


def assert_matches(rows, expected, ids=None):
    """Every expected row once, with the same spans (scores up to rounding)."""
    ids = ids or {i: i for i in expected}
    got = {row["id"]: row for row in rows}
    assert len(got) == len(rows) == len(expected)
    for i, spans in expected.items():
        row = got[ids[i]]
        assert row["error"] is None
        found = [(s["start_char"], s["end_char"], s["label"], s["in_ents"]) for s in row["spans"]]
        assert found == [(s, e, label, in_ents) for s, e, label, _, in_ents in spans]
        assert [s["score"] for s in row["spans"]] == pytest.approx([sp[3] for sp in spans], abs=1e-5)


def write_jsonl(path: Path, texts, bad_lines=None):
    """A JSON Lines input of the texts, with some lines replaced."""
    lines = [json.dumps({"text": text}, ensure_ascii=False) for text in texts]
    for i, line in (bad_lines or {}).items():
        lines[i] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def texts():
    return make_texts()


@pytest.fixture(scope="module")
def expected(models, texts):
    return expected_rows(models / "plain", texts)


# ------------------------------------------------------------------ local engine


def test_local_engine_matches_nlp_pipe(models, texts, expected, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    result = annotate(
        models / "plain", source, tmp_path / "out", shard_size=37, batch_size=16,
        docbin_dir=tmp_path / "docs", progress=False,
    )
    assert (result.n_rows, result.n_errors, result.n_shards) == (N_TEXTS, 0, 7)
    # One process did it all, with the pipeline the driver had loaded.
    assert list(result.workers) == [os.getpid()]
    assert result.workers[os.getpid()].n_shards == 7 and result.workers[os.getpid()].load_seconds == 0
    rows = read_rows(tmp_path / "out")
    # Read back in file order, the rows keep the input order.
    assert [row["id"] for row in rows] == list(range(N_TEXTS))
    assert_matches(rows, expected)
    assert result.n_spans == sum(len(spans) for spans in expected.values()) > 0
    assert pq.read_schema(sorted((tmp_path / "out").glob("*.parquet"))[0]) == output_schema("int64")
    # The DocBin shards hold the same docs, with their ids.
    nlp = spacy.blank("zh")
    docs = [doc for path in sorted((tmp_path / "docs").glob("*.spacy")) for doc in spacy.tokens.DocBin().from_disk(path).get_docs(nlp.vocab)]
    assert [doc.user_data["id"] for doc in docs] == list(range(N_TEXTS))
    assert [doc.text for doc in docs] == texts
    assert [len(doc.spans["sc"]) for doc in docs] == [len(expected[i]) for i in range(N_TEXTS)]


def test_local_processes_with_ids_and_jsonl_output(models, texts, expected, tmp_path):
    ids = [f"doc-{i}" for i in range(N_TEXTS)]
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"doc_id": ids, "body": texts}), source, row_group_size=50)
    result = annotate(
        models / "plain", source, tmp_path / "out", text_column="body", id_column="doc_id",
        format="jsonl", n_process=2, progress=False,
    )
    # Without a shard size, a small input gets 4 shards per worker.
    assert result.n_rows == N_TEXTS and result.n_shards == 8
    # Worker processes did the work (one of them may have done all of it).
    assert os.getpid() not in result.workers and 1 <= len(result.workers) <= 2
    assert_matches(read_rows(tmp_path / "out"), expected, ids=dict(enumerate(ids)))


def test_row_errors_do_not_stop_the_run(models, texts, expected, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts, bad_lines=BAD_LINES)
    result = annotate(models / "fail", source, tmp_path / "out", shard_size=100, progress=False)
    assert_row_errors(result, read_rows(tmp_path / "out"), expected)


# Hostile JSON Lines rows of an input with an id column, as bytes: none of
# them has a usable id, so only the position can tell them apart. The two
# blank lines are not rows at all (pandas, pyarrow and srsly skip them too).
HOSTILE_LINES = [
    b"{not json",
    b"",
    b"  \t ",
    b"\xff\xfe not utf-8",
    b"[1, 2]",
    b'"a string"',
    b'{"id": null, "text": "null id"}',
    b'{"text": "no id"}',
    b"42",
]


@pytest.mark.parametrize("shard_size", [2, 100])
def test_rows_that_are_not_json_keep_their_position(models, tmp_path, shard_size):
    good = [json.dumps({"id": f"g{i}", "text": "北京"}, ensure_ascii=False).encode() for i in range(3)]
    lines = [good[0], *HOSTILE_LINES[:5], good[1], *HOSTILE_LINES[5:], good[2]]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    code, output = run_cli(
        models / "plain", source, tmp_path / "out", "--id-column", "id", "--shard-size", shard_size
    )
    assert code == 0, output
    rows = read_rows(tmp_path / "out")
    # One row per line that is not blank, numbered in input order.
    line_numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
    assert len(rows) == len(line_numbers) == 10
    assert [row["position"] for row in rows] == list(range(10))
    assert [row["id"] for row in rows if row["error"] is None] == ["g0", "g1", "g2"]
    failed = [row for row in rows if row["error"] is not None]
    assert len(failed) == 7 and all(row["id"] is None and row["spans"] == [] for row in failed)
    # Each error also names the line of the input file it comes from.
    for row in failed:
        assert row["error"].endswith(f"(line {line_numbers[row['position']]} of in.jsonl)")
    assert failed[0]["error"].startswith("not a JSON line")
    assert failed[1]["error"].startswith("not a JSON line")  # undecodable bytes


def assert_row_errors(result, rows, expected):
    """Only the bad rows have an error (and no spans); the others match."""
    assert result.n_rows == N_TEXTS and result.n_errors == len(BAD_LINES)
    by_id = {row["id"]: row for row in rows}
    assert "ValueError: cannot annotate" in by_id[7]["error"]
    assert by_id[50]["error"] == "'text' is null (line 51 of in.jsonl)"
    assert by_id[51]["error"].startswith("the value of 'text' is not a text")
    assert by_id[52]["error"].startswith("not a JSON line")
    assert all(by_id[i]["spans"] == [] for i in BAD_LINES)
    good = {i: spans for i, spans in expected.items() if i not in BAD_LINES}
    assert_matches([row for row in rows if row["id"] not in BAD_LINES], good)


def test_local_worker_that_dies_stops_the_run_clearly(models, texts, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    with pytest.raises(AnnotateError, match=r"GP110.*local engine stopped: a worker process died"):
        annotate(models / "die_always", source, tmp_path / "out", n_process=2, code=CODE, progress=False)


def test_several_components(models, texts, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts[:20])
    with pytest.raises(AnnotateError, match=r"GP106.*globalpointer_ner, second"):
        annotate(models / "two", source, tmp_path / "out", progress=False)
    annotate(models / "two", source, tmp_path / "out", pipe_name="second", progress=False)
    nlp = spacy.load(models / "two")
    assert nlp.get_pipe("second").key == "other"
    expected = {i: len(doc.spans["other"]) for i, doc in enumerate(nlp.pipe(texts[:20]))}
    assert {row["id"]: len(row["spans"]) for row in read_rows(tmp_path / "out")} == expected


def test_input_that_changes_during_the_run_stops_it_with_gp115(
    models, texts, tmp_path, monkeypatch
):
    """A shard that no longer has the rows it was planned with (the input
    file was cut while the run went on) stops the run: GP115 inside GP110."""
    from spacy_globalpointer.annotate import annotator

    source = write_jsonl(tmp_path / "in.jsonl", texts[:6])
    real_read_shard = annotator.read_shard

    def cut_input_then_read(shard, *args):
        if shard.index == 1:
            lines = source.read_text(encoding="utf8").splitlines(keepends=True)
            source.write_text("".join(lines[:4]), encoding="utf8")
        return real_read_shard(shard, *args)

    monkeypatch.setattr(annotator, "read_shard", cut_input_then_read)
    message = (
        r"\[GP110\].*\[GP115\] Batch annotation: shard 1 of '.*in\.jsonl' has 1 row\(s\), "
        r"not the 3 planned: the input changed during the run"
    )
    with pytest.raises(AnnotateError, match=message):
        annotate(models / "plain", source, tmp_path / "out", shard_size=3, progress=False)


def test_shards_missing_from_the_results_are_reported_as_gp114(tmp_path):
    from spacy_globalpointer.annotate import _result
    from spacy_globalpointer.annotate.annotator import ShardSummary

    source = write_jsonl(tmp_path / "in.jsonl", ["a", "b", "c"])
    shards = sources.plan_input(source, "text", None, 1).shards
    done = ShardSummary(
        shard=0, n_rows=1, n_errors=0, n_spans=0, pid=1, peak_rss_mb=1.0, seconds=0.1,
        load_seconds=0.0,
    )
    message = (
        r"\[GP114\].*shard\(s\) \[1, 2\] not written and shard\(s\) \[0\] reported more "
        r"than once.*'.*out'.*a bug of spacy-globalpointer"
    )
    with pytest.raises(RuntimeError, match=message):
        _result(tmp_path / "out", shards, [done, done], 1.0)



# ------------------------------------------------------------------ Ray engine


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster with 2 CPUs for the whole session."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_matches_nlp_pipe_and_local(ray_cluster, models, texts, expected, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts, bad_lines=BAD_LINES)
    result = annotate(
        models / "fail", source, tmp_path / "ray", engine="ray", num_workers=2,
        shard_size=30, batch_size=16, code=CODE,
    )
    assert os.getpid() not in result.workers and 1 <= len(result.workers) <= 2  # actors
    rows = read_rows(tmp_path / "ray")
    assert_row_errors(result, rows, expected)
    # With the same shards and batches the local engine writes the very same
    # rows, in the same order: ids are stable across engines.
    annotate(models / "fail", source, tmp_path / "local", shard_size=30, batch_size=16, progress=False)
    assert read_rows(tmp_path / "local") == rows


def test_ray_killed_worker_loses_and_duplicates_nothing(ray_cluster, models, texts, expected, tmp_path):
    marker = models / "died"
    marker.unlink(missing_ok=True)
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    result = annotate(
        models / "die", source, tmp_path / "out", engine="ray", num_workers=2,
        shard_size=40, code=CODE, max_retries=2,
    )
    assert marker.exists()  # a worker process really died in the middle of the run
    assert result.n_rows == N_TEXTS and result.n_shards == 6
    rows = read_rows(tmp_path / "out")
    assert sorted(row["id"] for row in rows) == list(range(N_TEXTS))
    assert_matches(rows, expected)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


def test_ray_text_that_always_kills_its_worker_fails_the_run(ray_cluster, models, texts, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    with pytest.raises(AnnotateError, match=r"GP110.*ray engine stopped"):
        annotate(
            models / "die_always", source, tmp_path / "out", engine="ray", num_workers=1,
            shard_size=40, code=CODE, max_retries=1,
        )


# ------------------------------------------------------------------ bad input: one clear line


def run_cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def small_input(texts, tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", texts[:10])


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_text_column", "has no column 'body' (found: text)"),
        ("missing_parquet_column", "has no column 'text' (found: body)"),
        ("missing_file", "it does not exist"),
        ("unreadable_parquet", "Cannot read the input"),
        ("not_json", "its first line is not JSON"),
        ("model_without_our_pipe", "has no `globalpointer_ner` component (its components: sentencizer)"),
        ("missing_model", "Cannot use the model"),
        ("bad_engine", "Unknown engine 'spark'"),
        ("ray_missing_column", "has no column 'body'"),
    ],
)
def test_bad_input_gives_one_clear_line(case, message, models, small_input, tmp_path):
    model, source, extra = models / "plain", small_input, []
    if case == "missing_text_column":
        extra = ["--text-column", "body"]
    elif case == "missing_parquet_column":
        source = tmp_path / "in.parquet"
        pq.write_table(pa.table({"body": ["北京"]}), source)
    elif case == "missing_file":
        source = tmp_path / "nothing.jsonl"
    elif case == "unreadable_parquet":
        source = tmp_path / "broken.parquet"
        source.write_bytes(b"not a parquet file")
    elif case == "not_json":
        source = tmp_path / "in.jsonl"
        source.write_text("北京大学\n", encoding="utf8")
    elif case == "model_without_our_pipe":
        model = models / "no_gp"
    elif case == "missing_model":
        model = tmp_path / "no_model"
    elif case == "bad_engine":
        extra = ["--engine", "spark"]
    elif case == "ray_missing_column":
        extra = ["--engine", "ray", "--text-column", "body"]
    code, output = run_cli(model, source, tmp_path / "out", *extra)
    assert code == 1
    assert message in " ".join(output.split())
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()  # nothing is written for bad input


def test_existing_output_needs_overwrite(models, small_input, tmp_path):
    out = tmp_path / "out"
    assert run_cli(models / "plain", small_input, out)[0] == 0
    code, output = run_cli(models / "plain", small_input, out, "--shard-size", 3)
    assert code == 1 and "exists" in output and "--overwrite" in output
    code, output = run_cli(models / "plain", small_input, out, "--shard-size", 3, "--overwrite")
    assert code == 0, output
    # The earlier part file is replaced by the new ones.
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(4)]
    assert [row["id"] for row in read_rows(out)] == list(range(10))
    # A folder with other files is never emptied.
    (out / "notes.txt").write_text("mine", encoding="utf8")
    code, output = run_cli(models / "plain", small_input, out, "--overwrite")
    assert code == 1 and "notes.txt" in output
    assert len(list(out.iterdir())) == 5


def test_command_line_module(models, small_input, tmp_path):
    """The real command: --help, a run, and a bad input without a traceback."""
    command = [sys.executable, "-m", "spacy_globalpointer.annotate"]
    assert "--num-workers" in subprocess.run(command + ["--help"], capture_output=True, text=True, check=True).stdout
    # Also a command of the package's own command line.
    assert "--num-workers" in CliRunner().invoke(package_app, ["annotate", "--help"]).output
    done = subprocess.run(command + [str(models / "plain"), str(small_input), str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0 and "10 rows" in done.stdout
    bad = subprocess.run(command + [str(models / "no_gp"), str(small_input), str(tmp_path / "out2")], capture_output=True, text=True)
    assert bad.returncode == 1 and "GP103" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_importing_the_package_does_not_import_ray():
    code = (
        "import sys, spacy, spacy_globalpointer, spacy_globalpointer.annotate, "
        "spacy_globalpointer.annotate.__main__, spacy_globalpointer.__main__\n"
        "spacy.blank('zh')\n"
        "print(sorted(m for m in ('ray', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------ shards


@pytest.mark.parametrize("shard_size", [1, 3, 4, 100])
@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("blank_lines", [False, True])
def test_jsonl_shards_cover_every_line_once(tmp_path, monkeypatch, shard_size, trailing_newline, blank_lines):
    monkeypatch.setattr(sources, "SCAN_CHUNK_BYTES", 7)  # lines cross chunk borders
    lines = [json.dumps({"text": "字" * (i % 4), "n": i}, ensure_ascii=False) for i in range(11)]
    if blank_lines:  # not rows: before, between (one longer than a chunk) and after the rows
        lines = ["", *lines[:3], " \t" * 5, "", *lines[3:], "  "]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf8")
    plan = sources.plan_input(path, "text", None, shard_size)
    assert plan.n_rows == 11 and all(s.n_rows <= shard_size for s in plan.shards)
    rows = [row for shard in plan.shards for row in sources.read_shard(shard, "text", None)]
    assert [row.id for row in rows] == list(range(11))
    assert [row.text for row in rows] == ["字" * (i % 4) for i in range(11)]


def test_jsonl_rows_without_an_id_get_an_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 4, "text": "a"}\n{"text": "b"}\n{"id": "x", "text": "c"}\n', encoding="utf8")
    plan = sources.plan_input(path, "text", "id", 10)
    rows = list(sources.read_shard(plan.shards[0], "text", "id"))
    assert [(row.id, row.position, row.text, row.error) for row in rows] == [
        ("4", 0, "a", None),
        (None, 1, None, "'id' is missing or null (line 2 of in.jsonl)"),
        ("x", 2, "c", None),
    ]


@pytest.mark.parametrize("shard_size", [2, 5, 7, 50])
def test_parquet_shards_cross_row_groups(tmp_path, shard_size):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": [str(i) for i in range(13)], "k": list(range(13))}), folder / "a.parquet", row_group_size=4)
    pq.write_table(pa.table({"text": ["x", "y"], "k": [13, 14]}), folder / "b.parquet")
    plan = sources.plan_input(folder, "text", "k", shard_size)
    assert plan.id_type == "int64"
    rows = [row for shard in plan.shards for row in sources.read_shard(shard, "text", "k")]
    assert [row.id for row in rows] == list(range(15))
    assert [row.text for row in rows] == [str(i) for i in range(13)] + ["x", "y"]
